"""From a prompt dict (prompto's format) to the conversation(s) a provider is sent.

A ``prompt`` is one of:

* a string: one user turn;
* a list of strings: a multi-turn chat, each string sent as the next user turn with the replies so far;
* a list of ``{role, content}`` dicts: a history (``system`` included; Gemini's ``parts``/``model`` too).

Content is a string or a list of strings and part dicts. Media parts follow prompto's per-API shapes,
all accepted for every API: ``{"type": "image", "media": "cat.jpg"}``, ``{"type": "image_url",
"image_url": "cat.jpg" | {"url": "https://…", "detail": "low"}}``, ``{"type": "image", "source":
{"media": "cat.jpg", "media_type": "image/jpeg"}}``, ``{"type": "video", "url": "https://…"}``; a
message may also carry Ollama-style ``"images": ["cat.jpg"]``. Files resolve against the data
folder's ``media/`` and must exist there: a name leading out of it (``../x``, an absolute path, a
``file://`` URL, a link pointing elsewhere) is refused by :func:`media_problems` before the run, and
again as the file is read (:meth:`providers.MediaPart.read_base64`). A part uploaded to Gemini's Files
API (``prompto_upload_media``: prompto's ``uploaded_filename``, and ``uploaded_uri``) is sent by its URI.
"""

from __future__ import annotations

import mimetypes
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any
from urllib.parse import unquote, urlsplit

from providers import ChatRequest, ContentPart, MediaPart, Message, TextPart
from providers._types import MediaFileRefused

_ROLES = {
    "system": "system",
    "developer": "system",
    "user": "user",
    "assistant": "assistant",
    "model": "assistant",
}
_MEDIA_KINDS = {
    "image": "image",
    "image_url": "image",
    "video": "video",
    "video_url": "video",
    "audio": "audio",
}
_MEDIA_KINDS |= {"document": "document", "file": "document"}
_URL_SCHEMES = ("http://", "https://", "data:", "gs://")
FILES_API_URI_BASE = "https://generativelanguage.googleapis.com/v1beta"
"""Where a Gemini Files API name (``files/abc``) lives: ``fileData.fileUri`` names it so."""
"""Sent as URLs. A ``file://`` URL is a local file: like any other, it must be in ``media/``."""


class PromptError(ValueError):
    """The prompt dict cannot be turned into a request; the message says what to fix."""


@dataclass(frozen=True, slots=True)
class Conversation:
    """What one prompt sends: a fixed history, or user turns to send one after another."""

    messages: tuple[Message, ...]
    """The history (for a string or history prompt, the whole request)."""
    follow_up_turns: tuple[str, ...] = ()
    """For a list-of-strings prompt: the user turns after the first, sent once each reply arrives."""
    prompt_text: str | None = None
    multi_turn: bool = False
    """Whether the prompt is a list of user turns (its response is then a list of replies)."""

    def first_request(self, model_name: str, parameters: Mapping[str, Any]) -> ChatRequest:
        """The first request of the conversation."""
        return ChatRequest(model_name, self.messages, parameters, self.prompt_text)


def parse_prompt(prompt: Any, media_folder: Path) -> Conversation:
    """Normalise a prompt dict's ``prompt`` value, or raise :class:`PromptError`."""
    if isinstance(prompt, str):
        return Conversation((Message("user", prompt),), prompt_text=prompt)
    if not isinstance(prompt, list) or not prompt:
        raise PromptError("'prompt' must be a string, a list of strings, or a list of {role, content} dicts")
    if all(isinstance(turn, str) for turn in prompt):
        return Conversation((Message("user", prompt[0]),), tuple(prompt[1:]), multi_turn=True)
    if all(isinstance(turn, dict) for turn in prompt):
        return Conversation(tuple(_message(turn, media_folder, i) for i, turn in enumerate(prompt)))
    raise PromptError(
        "'prompt' mixes strings and dicts; use all strings (turns) or all {role, content} dicts"
    )


def _message(turn: dict[str, Any], media_folder: Path, index: int) -> Message:
    role = _ROLES.get(str(turn.get("role")))
    if role is None:
        raise PromptError(f"prompt[{index}] has role {turn.get('role')!r}; use system, user or assistant")
    if "content" in turn:
        raw = turn["content"]
    elif "parts" in turn:
        raw = turn["parts"]
    else:
        raise PromptError(f"prompt[{index}] has no 'content'")
    extra_images = turn.get("images") or []
    if not isinstance(extra_images, list) or not all(isinstance(name, str) for name in extra_images):
        raise PromptError(f"prompt[{index}].images must be a list of media file names")
    if isinstance(raw, str) and not extra_images:
        return Message(role, raw)  # type: ignore[arg-type]
    items = [raw] if isinstance(raw, str | dict) else raw
    if not isinstance(items, list):
        raise PromptError(f"prompt[{index}].content must be a string or a list of parts")
    parts = [_part(item, media_folder, index) for item in items]
    parts += [_media("image", name, None, {}, media_folder, index) for name in extra_images]
    return Message(role, tuple(parts))  # type: ignore[arg-type]


def _part(item: Any, media_folder: Path, index: int) -> ContentPart:
    if isinstance(item, str):
        return TextPart(item)
    if not isinstance(item, dict):
        raise PromptError(f"prompt[{index}] has a part that is neither text nor a dict: {item!r}")
    kind = item.get("type", "text")
    if kind == "text":
        if not isinstance(item.get("text"), str):
            raise PromptError(f"prompt[{index}] has a text part without a 'text' string")
        return TextPart(item["text"])
    if kind not in _MEDIA_KINDS:
        raise PromptError(f"prompt[{index}] has a part of unknown type {kind!r}")
    options = {
        k: v for k, v in item.items() if k not in {"type", "media", "url", "mime_type", "source", kind}
    }
    location, mime = item.get("media") or item.get("url"), item.get("mime_type")
    nested = item.get(kind) if isinstance(item.get(kind), dict | str) else item.get("source")
    if isinstance(nested, str):
        location = nested
    elif isinstance(nested, dict):
        location = nested.get("url") or nested.get("media") or location
        mime = nested.get("media_type") or nested.get("mime_type") or mime
        options |= {
            k: v for k, v in nested.items() if k not in {"url", "media", "media_type", "mime_type", "type"}
        }
    if not isinstance(location, str) or not location:
        raise PromptError(f"prompt[{index}] has a {kind} part that names no media file or URL")
    uploaded = _uploaded_uri(options.pop("uploaded_uri", None), options.pop("uploaded_filename", None))
    if uploaded is not None:  # prompto_upload_media's: sent by URI, the local file is not read
        mime = mime or mimetypes.guess_type(location)[0]
        return MediaPart(_MEDIA_KINDS[kind], url=uploaded, mime_type=mime, options=options)  # type: ignore[arg-type]
    return _media(_MEDIA_KINDS[kind], location, mime, options, media_folder, index)


def _uploaded_uri(uri: Any, name: Any) -> str | None:
    """A Files API upload's URI: ``uploaded_uri``, else the one prompto's ``uploaded_filename`` names."""
    if isinstance(uri, str) and uri:
        return uri
    if isinstance(name, str) and name:
        return f"{FILES_API_URI_BASE}/{name.removeprefix('/')}"
    return None


def _media(
    kind: str, location: str, mime: str | None, options: dict[str, Any], media_folder: Path, index: int
) -> MediaPart:
    if location.startswith(_URL_SCHEMES):
        return MediaPart(kind, url=location, mime_type=mime, options=options)  # type: ignore[arg-type]
    name = unquote(urlsplit(location).path) if location.startswith("file://") else location
    # Checked by the validation pass (media_problems), not here: a file changed mid-run must fail its
    # own prompt when it is read, not stop the queue that resolves it.
    return MediaPart.in_folder(kind, media_folder, name, mime_type=mime, options=options)  # type: ignore[arg-type]


def media_problems(conversation: Conversation) -> list[str]:
    """Each media file of the conversation that may not be sent (missing, or outside the media folder),
    as a problem naming its turn."""
    problems = []
    for index, message in enumerate(conversation.messages):
        parts = () if isinstance(message.content, str) else message.content
        for part in parts:
            if not isinstance(part, MediaPart):
                continue
            try:
                part.check()
            except MediaFileRefused as exc:
                problems.append(f"prompt[{index}] names media file '{exc.name}', which {exc.reason}")
    return problems

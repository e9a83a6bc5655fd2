"""Vendor-neutral request and reply types that cross the provider seam.

The runner turns every prompt dict into a :class:`ChatRequest` (validated, media resolved) before
anything is sent; a provider renders it to its wire format and returns a :class:`Completion`.
"""

from __future__ import annotations

import base64
import mimetypes
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Literal

import trio

from providers._errors import BadRequest
from providers._features import RequestFeatures, vendor_parameters

Role = Literal["system", "user", "assistant"]
MediaKind = Literal["image", "video", "audio", "document"]


@dataclass(frozen=True, slots=True)
class TextPart:
    """Plain text inside a message."""

    text: str


class MediaFileRefused(BadRequest):
    """A media file that is not a file inside its media folder: never read, never sent."""

    def __init__(self, name: str, reason: str) -> None:
        super().__init__(f"media file '{name}' {reason}")
        self.name = name
        self.reason = reason
        """Why, after the name: ``is outside data/media/...``, ``is not in data/media/``."""


def _real_path_inside(folder: Path, path: Path, name: str) -> Path:
    """The real path of ``path``, every ``..`` and link followed, if it is a file inside ``folder``.

    Raise :class:`MediaFileRefused` (naming the file as ``name``) if it resolves outside ``folder``
    (``../../secret.env``, an absolute path, a link pointing out) or is not a file there: a prompt must
    not send a file from anywhere else.
    """
    try:
        real = path.resolve()
        inside = real.is_relative_to(folder.resolve())
        is_file = inside and real.is_file()
    except (OSError, RuntimeError, ValueError) as exc:  # a link loop, a NUL byte in the name
        raise MediaFileRefused(name, f"cannot be resolved: {exc}") from None
    if not inside:
        reason = (
            f"is outside {folder}/: media files must be inside it (links are followed), so it is not sent"
        )
        raise MediaFileRefused(name, reason)
    if not is_file:
        raise MediaFileRefused(name, f"is not in {folder}/")
    return real


@dataclass(frozen=True, slots=True)
class MediaPart:
    """An image, video, audio clip or document: a remote URL, or a file in the data folder's ``media/``."""

    kind: MediaKind
    url: str | None = None
    path: Path | None = None
    mime_type: str | None = None
    options: Mapping[str, Any] = field(default_factory=dict)
    """Vendor options kept from the prompt dict (OpenAI ``detail``, Gemini ``videoMetadata``...)."""
    folder: Path | None = None
    """The folder ``path`` must stay inside (the data folder's ``media/``): :meth:`check` tells before
    the run, and :meth:`read_base64` checks again as it reads, so that a file replaced by a link after
    validation cannot send a file from elsewhere either."""

    @classmethod
    def in_folder(
        cls,
        kind: MediaKind,
        folder: Path,
        name: str | Path,
        *,
        mime_type: str | None = None,
        options: Mapping[str, Any] | None = None,
    ) -> MediaPart:
        """The file ``name`` of ``folder``, not looked at yet (see :meth:`check`)."""
        return cls(kind, path=folder / name, mime_type=mime_type, options=options or {}, folder=folder)

    @property
    def name(self) -> str:
        """The file as the prompt named it (relative to ``folder``, unless it was absolute)."""
        if self.path is None:
            return self.url or ""
        if self.folder is not None and self.path.is_relative_to(self.folder):
            return str(self.path.relative_to(self.folder))  # lexical: "../../x" stays "../../x"
        return str(self.path)

    def check(self) -> Path | None:
        """The real path of the file to send (None for a URL); raise :class:`MediaFileRefused` if it is
        not a file inside ``folder`` (links are followed)."""
        if self.path is None or self.folder is None:
            return self.path
        return _real_path_inside(self.folder, self.path, self.name)

    @property
    def resolved_mime_type(self) -> str:
        """The MIME type given, else guessed from the file or URL name."""
        if self.mime_type:
            return self.mime_type
        guessed, _ = mimetypes.guess_type(str(self.path or self.url or ""))
        return guessed or "application/octet-stream"

    async def read_base64(self) -> str:
        """The file's bytes as base64, read off the event loop (videos can be large)."""
        # Checked again here, on the way out: the file may have been replaced by a link since validation.
        path = self.check()
        if path is None:
            raise ValueError("read_base64() needs a media file, not a URL")
        data = await trio.Path(path).read_bytes()
        return base64.b64encode(data).decode("ascii")

    async def data_uri(self) -> str:
        """The URL itself, or the file as a ``data:`` URI."""
        if self.url is not None:
            return self.url
        return f"data:{self.resolved_mime_type};base64,{await self.read_base64()}"


ContentPart = TextPart | MediaPart


@dataclass(frozen=True, slots=True)
class Message:
    """One chat turn. ``content`` is a plain string or a sequence of parts."""

    role: Role
    content: str | tuple[ContentPart, ...]

    @property
    def text(self) -> str:
        """The text of the turn, media left out."""
        if isinstance(self.content, str):
            return self.content
        return "".join(part.text for part in self.content if isinstance(part, TextPart))


@dataclass(frozen=True, slots=True)
class ChatRequest:
    """One request to one model: a conversation and the vendor's own generation parameters."""

    model_name: str
    messages: tuple[Message, ...]
    parameters: Mapping[str, Any] = field(default_factory=dict)
    """Passed to the API under its own names (``max_tokens``, ``max_output_tokens``, ``options``...)."""
    prompt_text: str | None = None
    """The prompt as the raw string the user wrote, when it was one (text-completion providers use it)."""

    @property
    def features(self) -> RequestFeatures:
        """What the parameters ask for in prompto-run's neutral form (reasoning, response_schema, tools,
        stream: :mod:`providers._features`), for the provider to render in its API's shape."""
        return RequestFeatures.of(self.parameters)

    @property
    def vendor_parameters(self) -> dict[str, Any]:
        """The parameters to send under the API's own names: all but the neutral ones."""
        return vendor_parameters(self.parameters)

    @property
    def system(self) -> str | None:
        """The system message's text, if the conversation has one."""
        texts = [m.text for m in self.messages if m.role == "system"]
        return "\n\n".join(texts) if texts else None

    @property
    def turns(self) -> tuple[Message, ...]:
        """The conversation without system messages."""
        return tuple(m for m in self.messages if m.role != "system")

    @property
    def media(self) -> tuple[MediaPart, ...]:
        """Every media part of the conversation."""
        return tuple(
            part
            for m in self.messages
            if not isinstance(m.content, str)
            for part in m.content
            if isinstance(part, MediaPart)
        )

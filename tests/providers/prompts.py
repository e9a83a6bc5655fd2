"""The prompt forms every provider is tested with, as the runner hands them over (already normalised)."""

from __future__ import annotations

import base64
from pathlib import Path
from typing import Any

from providers import ChatRequest, MediaPart, Message, TextPart
from providers._types import MediaKind

SECRET = "sk-test-SECRET-0123456789abcdef"
IMAGE_URL = "https://example.com/cat.jpg"


def single(model: str, **parameters: Any) -> ChatRequest:
    """A single string prompt."""
    return ChatRequest(model, (Message("user", "Hello"),), parameters, prompt_text="Hello")


def history(model: str, **parameters: Any) -> ChatRequest:
    """A multi-turn conversation with a system message."""
    messages = (
        Message("system", "Be terse."),
        Message("user", "Hi"),
        Message("assistant", "Hello."),
        Message("user", "How are you?"),
    )
    return ChatRequest(model, messages, parameters)


def image_url(model: str, **options: Any) -> ChatRequest:
    """Text and an image given by URL."""
    part = MediaPart("image", url=IMAGE_URL, options=options)
    return ChatRequest(model, (Message("user", (TextPart("What is this?"), part)),))


def media_file(
    model: str, path: Path, kind: MediaKind = "image", mime_type: str = "image/png"
) -> ChatRequest:
    """Text and a local media file."""
    part = MediaPart(kind, path=path, mime_type=mime_type)
    return ChatRequest(model, (Message("user", (TextPart("What is this?"), part)),))


def b64(path: Path) -> str:
    """The file's bytes as the base64 a provider should send."""
    return base64.b64encode(path.read_bytes()).decode()

"""Secrets out of every text: each form a key can be written in, cut-off keys, credentials in URLs.

A key reaches a message in more shapes than one: as is, trimmed, inside a ``repr`` (h11 quotes the
header it refuses), inside JSON (every record line), URL-encoded (a query string). :func:`redact`
replaces all of them, and a *cut-off* key too: a prefix of a secret that ends a text, or ends where
the text was cut (``…``), is the secret. :func:`excerpt <providers._errors.excerpt>` scrubs the
secrets of the provider call in progress (:func:`secrets_in_scope`) before it cuts a body, so a cut
never splits a key in the first place.
"""

from __future__ import annotations

import functools
import json
from collections.abc import Iterable, Iterator
from contextlib import contextmanager
from contextvars import ContextVar
from urllib.parse import quote, quote_plus

MASK = "***"
MIN_SECRET = 4
"""Shorter values are not scrubbed: masking every ``abc`` in a reply would garble it for nothing."""
CUT_MARKS = ("…", "...")
"""How a cut text ends: :func:`~providers._errors.excerpt` writes ``…``; servers often write ``...``."""

_IN_SCOPE: ContextVar[tuple[str, ...]] = ContextVar("secrets_in_scope", default=())


def redact(text: str, secrets: Iterable[str]) -> str:
    """``text`` with every form of every secret, and every cut-off prefix of one, replaced by ``***``."""
    for secret in secrets:
        if not secret or len(secret) < MIN_SECRET:
            continue
        for form in secret_forms(secret):
            if form in text:
                text = text.replace(form, MASK)
            text = _mask_cut_prefixes(text, form)
    return text


@functools.lru_cache(maxsize=256)
def secret_forms(secret: str) -> tuple[str, ...]:
    """Every way ``secret`` is written into a text, longest first (so a form is replaced before a
    shorter one it contains): as is, trimmed, repr-escaped (str and bytes), JSON-escaped, URL-encoded."""
    forms = {
        secret,
        secret.strip(),
        repr(secret)[1:-1],
        repr(secret.encode("utf-8", "surrogatepass"))[2:-1],
        json.dumps(secret)[1:-1],
        json.dumps(secret, ensure_ascii=False)[1:-1],
        quote(secret, safe=""),
        quote(secret),
        quote_plus(secret),
    }
    return tuple(sorted((form for form in forms if len(form) >= MIN_SECRET), key=len, reverse=True))


def _mask_cut_prefixes(text: str, form: str) -> str:
    """Mask a prefix of ``form`` (of :data:`MIN_SECRET` characters or more) that ends ``text`` or is
    followed by a cut mark: what is left of the secret after a cut."""
    start = text.find(form[:MIN_SECRET])
    while start != -1:
        length = MIN_SECRET
        while length < len(form) and start + length < len(text) and text[start + length] == form[length]:
            length += 1
        end = start + length
        if end == len(text) or text.startswith(CUT_MARKS, end):
            text = text[:start] + MASK + text[end:]
            start += len(MASK) - 1
        start = text.find(form[:MIN_SECRET], start + 1)
    return text


@contextmanager
def secrets_in_scope(secrets: Iterable[str]) -> Iterator[None]:
    """Within the block (one provider call, in its own trio task), :func:`scoped_secrets` returns
    ``secrets``: text cut for an error message is scrubbed of them first."""
    token = _IN_SCOPE.set(tuple(secrets))
    try:
        yield
    finally:
        _IN_SCOPE.reset(token)


def scoped_secrets() -> tuple[str, ...]:
    """The secrets of the provider call in progress (none outside one)."""
    return _IN_SCOPE.get()


def credential_flaw(value: str, *, ascii_only: bool = True) -> str | None:
    """Why ``value`` cannot be sent as it is, or ``None``: a key read from a file or pasted into a CI
    variable often ends with a newline, which HTTP refuses in a header (and h11 then quotes the header).
    ``ascii_only=False`` for a URL, whose host may be an international name."""
    if value != value.strip():
        return "has leading or trailing whitespace (a newline?)"
    if any(ord(char) < 0x20 or ord(char) == 0x7F for char in value):
        return "contains a control character"
    if ascii_only and not value.isascii():
        return "contains a non-ASCII character"
    return None

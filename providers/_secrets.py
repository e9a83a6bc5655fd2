"""Secrets out of every text: each form a key can be written in, cut-off keys, credentials in URLs.

A key reaches a message in more shapes than one: as is, trimmed, inside a ``repr`` (h11 quotes the
header it refuses), inside JSON (every record line), URL-encoded (a query string). :func:`redact`
replaces all of them, and a *cut-off* key too: a prefix of a secret that ends a text, or ends where
the text was cut (``…``), is the secret. :func:`excerpt <providers._errors.excerpt>` scrubs the
secrets of the provider call in progress (:func:`secrets_in_scope`) before it cuts a body, so a cut
never splits a key in the first place.

Logs get one more rule, :func:`mask_url_credentials`: the user info and query values of every URL in a
log line are masked (httpx logs each request's full URL).
"""

from __future__ import annotations

import functools
import json
import re
from collections.abc import Iterable
from contextvars import ContextVar
from urllib.parse import quote, quote_plus, unquote, unquote_plus, urlsplit

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


class secrets_in_scope:
    """Within the block (one provider call, in its own trio task), :func:`scoped_secrets` returns
    ``secrets``: text cut for an error message is scrubbed of them first.

    A class, not a ``@contextmanager`` generator: it wraps every request, and a generator's
    machinery showed at a thousand requests a second."""

    __slots__ = ("_secrets", "_token")

    def __init__(self, secrets: Iterable[str]) -> None:
        self._secrets = tuple(secrets)

    def __enter__(self) -> None:
        self._token = _IN_SCOPE.set(self._secrets)

    def __exit__(self, exc_type: object, exc: object, traceback: object) -> None:
        _IN_SCOPE.reset(self._token)


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


_CREDENTIAL_PARAMETER = re.compile(r"key|token|secret|sig|pass|pwd|auth|code|cred", re.IGNORECASE)
"""Query parameter names whose values are credentials (``api-key``, ``access_token``, ``sig``, ``code``)."""


def url_secrets(url: str) -> list[str]:
    """The credentials written into a URL: its password (or its user name when it has no password,
    a token), and the values of query parameters named like credentials."""
    try:
        parts = urlsplit(url)
        username, password = parts.username, parts.password
    except ValueError:  # a malformed port or IPv6 address: nothing can be said about its parts
        return []
    secrets = [unquote(password)] if password else [unquote(username)] if username else []
    for parameter in parts.query.split("&"):
        name, has_value, value = parameter.partition("=")
        if has_value and value and _CREDENTIAL_PARAMETER.search(name):
            secrets.append(unquote_plus(value))
    return secrets


_URL = re.compile(r"[A-Za-z][A-Za-z0-9+.-]*://[^\s\"'<>]+")


def mask_url_credentials(text: str) -> str:
    """Every URL in ``text`` with its user info and query values masked (``https://***@host/p?key=***``)."""
    return _URL.sub(lambda match: masked_url(match.group()), text) if "://" in text else text


def masked_url(url: str) -> str:
    """``url`` with its user info and every query value replaced by ``***``; names and paths are kept."""
    scheme, separator, rest = url.partition("://")
    authority_end = min((i for i in map(rest.find, "/?#") if i != -1), default=len(rest))
    authority, tail = rest[:authority_end], rest[authority_end:]
    if "@" in authority:
        authority = f"{MASK}@{authority.rpartition('@')[2]}"
    path, has_query, query_and_fragment = tail.partition("?")
    if has_query:
        query, hash_mark, fragment = query_and_fragment.partition("#")
        tail = f"{path}?{'&'.join(map(_masked_parameter, query.split('&')))}{hash_mark}{fragment}"
    return f"{scheme}{separator}{authority}{tail}"


def _masked_parameter(parameter: str) -> str:
    name, has_value, value = parameter.partition("=")
    if has_value:
        return f"{name}={MASK}" if value else parameter
    return MASK if name else parameter  # a bare value (``?sk-...``) may be a key

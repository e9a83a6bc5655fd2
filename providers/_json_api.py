"""The base of every HTTP provider: POST one JSON body, read one JSON reply.

:class:`JsonApiProvider` resolves the endpoint and key from settings and the environment, owns the
run's :class:`~providers.http._pool.ClientPool`, and is the one boundary where every failure leaves as
a :class:`~providers._errors.ProviderError` with known secrets scrubbed from its message. A subclass
supplies four hooks: :meth:`~JsonApiProvider.request_path`, :meth:`~JsonApiProvider.request_body`,
:meth:`~JsonApiProvider.parse_reply` and (optionally) :meth:`~JsonApiProvider.classify_error`.
"""

from __future__ import annotations

import json
from abc import abstractmethod
from collections.abc import Awaitable, Callable, Mapping
from typing import Any, ClassVar

import httpx

from providers._base import Provider, ProviderContext, model_env_suffix
from providers._error_replies import as_sent_with, named_status, sent_as_success
from providers._errors import AuthError, MalformedReply, ProviderError, excerpt
from providers._json_fields import JsonObject
from providers._reply import Completion
from providers._secrets import credential_flaw, masked_url, redact, secrets_in_scope, url_secrets
from providers._types import ChatRequest
from providers.http._pool import (
    ClientPool,
    json_body,
    parse_retry_after,
    status_error,
    with_server_retry_verdict,
)


class JsonApiProvider(Provider):
    """A provider that sends each request as one JSON POST to one endpoint.

    Class attributes name where configuration comes from; ``settings.base_url`` and
    ``settings.api_key_env`` override them, and every env var also has a model-specific form.
    """

    endpoint_env: ClassVar[str | None] = None
    """Env var holding the base URL (``settings.base_url`` wins)."""
    default_endpoint: ClassVar[str | None] = None
    """Base URL used when neither the settings nor the environment give one."""
    key_env: ClassVar[str | None] = None
    """Env var holding the API key (``settings.api_key_env`` names another)."""
    key_required: ClassVar[bool] = True
    """Whether a request without a key is bound to fail (local servers usually need none)."""
    batch_api: ClassVar[str | None] = None
    """The import path of the API's :class:`~providers.batch.BatchApi` (``None``: no batch API; its
    queues run live in batch mode), imported only by a run that batches (``batch_api_for``)."""
    error_statuses: ClassVar[Mapping[str, int]] = {}
    """The API's error names (an error object's ``code``, ``status`` or ``type``) and the HTTP status
    each stands for: how an error object in a 2xx reply is classified (:mod:`providers._error_replies`)."""

    def __init__(self, context: ProviderContext) -> None:
        super().__init__(context)
        self.api_key = self.resolve_key(context)
        self._config_problems = self.check_config(context)
        self._closing: list[Callable[[], Awaitable[None]]] = []
        endpoint = self.resolve_endpoint(context)
        self._endpoint_secrets = url_secrets(endpoint or "")
        self._pool = ClientPool(
            endpoint or "http://endpoint.not.configured",
            headers=self.static_headers(self.api_key),
            transport=context.transport,
            expected_concurrency=context.expected_concurrency,
            max_reply_bytes=context.max_reply_bytes,
        )

    # -- configuration ---------------------------------------------------------------------------

    @classmethod
    def resolve_endpoint(cls, context: ProviderContext) -> str | None:
        """The base URL: ``settings.base_url``, else ``endpoint_env``, else ``default_endpoint``."""
        from_env = context.env(cls.endpoint_env) if cls.endpoint_env else None
        return context.settings.base_url or from_env or cls.default_endpoint

    @classmethod
    def resolve_key(cls, context: ProviderContext) -> str | None:
        """The key, from the env var ``settings.api_key_env`` names, else ``key_env``."""
        name = context.settings.api_key_env or cls.key_env
        return context.env(name) if name else None

    @classmethod
    def check_config(cls, context: ProviderContext) -> list[str]:
        """Unknown options, a missing or malformed endpoint, a missing key the API needs (or the settings
        name), a key that cannot be sent as it is (a trailing newline)."""
        problems = super().check_config(context)
        endpoint = cls.resolve_endpoint(context)
        if endpoint is None:
            where = f"{env_choice(cls.endpoint_env, context)} or " if cls.endpoint_env else ""
            problems.append(
                f"api '{cls.api}' needs an endpoint: set {where}endpoint.base_url in the model config"
            )
        elif not endpoint.startswith(("http://", "https://")):
            problems.append(
                f"api '{cls.api}' endpoint must start with http:// or https:// (got {masked_url(endpoint)!r})"
            )
        elif flaw := credential_flaw(endpoint, ascii_only=False):
            problems.append(f"api '{cls.api}' endpoint {masked_url(endpoint)!r} {flaw}")
        key_name = context.settings.api_key_env or cls.key_env
        key = cls.resolve_key(context)
        if key_name and key is None and (cls.key_required or context.settings.api_key_env):
            problems.append(f"api '{cls.api}' needs an API key: set {env_choice(key_name, context)}")
        elif key_name and key is not None and (flaw := credential_flaw(key)):
            problems.append(key_problem(cls.api, context.env_source(key_name) or key_name, flaw))
        return problems

    def static_headers(self, api_key: str | None) -> dict[str, str]:
        """Headers sent with every request; by default ``Authorization: Bearer <key>`` when there is a key."""
        return {"Authorization": f"Bearer {api_key}"} if api_key else {}

    def secrets(self) -> list[str]:
        """The key and any credentials written into the endpoint's URL, to be scrubbed from any text."""
        return [self.api_key, *self._endpoint_secrets] if self.api_key else list(self._endpoint_secrets)

    # -- the request -----------------------------------------------------------------------------

    @abstractmethod
    def request_path(self, request: ChatRequest) -> str:
        """The URL path (and query), relative to the base URL."""

    @abstractmethod
    async def request_body(self, request: ChatRequest) -> JsonObject:
        """The JSON body (async: local media files are read off the event loop)."""

    async def request_headers(self) -> Mapping[str, str] | None:
        """Per-request headers on top of :meth:`static_headers` (a refreshed token, say)."""
        return None

    @abstractmethod
    def parse_reply(self, payload: JsonObject, response: httpx.Response) -> Completion:
        """A 2xx reply's JSON as a :class:`Completion`; raise for safety blocks and missing fields."""

    def classify_error(self, response: httpx.Response) -> ProviderError:
        """An error status as the right :class:`ProviderError` (the default reads status and body only)."""
        return status_error(
            response.status_code,
            f"HTTP {response.status_code}: {body_excerpt(response)}",
            retry_after=parse_retry_after(response.headers),
        )

    async def complete(self, request: ChatRequest) -> Completion:
        """Build, send, check and parse one request; every failure is a scrubbed :class:`ProviderError`."""
        with self.scrubbed():
            if self._config_problems:
                raise AuthError("; ".join(self._config_problems))
            body = await self.request_body(request)
            headers = await self.request_headers()
            response = await self._pool.post(self.request_path(request), json_body=body, headers=headers)
            if response.status_code >= 400:
                raise with_server_retry_verdict(self.classify_error(response), response.headers)
            return self._parse(response)

    # -- what a batch API reads with (:mod:`providers.batch`) ---------------------------------------

    def outcome(self, status: int, body: Any) -> Completion:
        """One batch result (the status and JSON body a live request would have had) as the
        :class:`Completion` a live reply gives, or the :class:`ProviderError` it would have raised."""
        with self.scrubbed():
            response = httpx.Response(status, json=body)
            if status >= 400:
                raise self.classify_error(response)
            return self._parse(response)

    def _parse(self, response: httpx.Response) -> Completion:
        payload = json_body(response)
        if not isinstance(payload, dict):
            raise MalformedReply(
                f"HTTP {response.status_code}: reply is not a JSON object: {excerpt(response.content)!r}",
                status=response.status_code,
            )
        if (named := named_status(payload, self.error_statuses)) is not None:
            error = self.classify_error(as_sent_with(response, named))
            raise with_server_retry_verdict(
                sent_as_success(error, response.status_code, named), response.headers
            )
        try:
            return self.parse_reply(payload, response)
        except (KeyError, IndexError, TypeError, ValueError, RecursionError) as exc:  # an unexpected shape
            raise MalformedReply(
                f"HTTP {response.status_code}: reply could not be parsed ({type(exc).__name__}: {exc}): "
                f"{excerpt(response.content)!r}",
                status=response.status_code,
            ) from exc

    @property
    def config_problems(self) -> list[str]:
        """What makes every request fail (a missing key...), found when the provider was made."""
        return self._config_problems

    def scrubbed(self) -> Scrubbed:
        """Remove every secret this provider holds from the message of any error leaving it (and from
        every excerpt of a body made inside, before it is cut)."""
        return Scrubbed(self.secrets)

    async def aclose(self) -> None:
        """Close the run's HTTP clients (a batch API's too: :meth:`close_with`)."""
        await self._pool.aclose()
        for close in self._closing:
            await close()

    def close_with(self, close: Callable[[], Awaitable[None]]) -> None:
        """Have :meth:`aclose` also call ``close`` (clients made for this provider elsewhere)."""
        self._closing.append(close)


def env_choice(name: str, context: ProviderContext) -> str:
    """How to set ``name`` for every model or for this one: for messages that tell a user what to do."""
    return f"{name} (or {name}_{model_env_suffix(context.model_name)} for this model only)"


def key_problem(api: str, variable: str, flaw: str) -> str:
    """A key that cannot be sent as it is, named by its variable (never by its value)."""
    return (
        f"api '{api}': the key in {variable} {flaw}, which HTTP cannot send: set it without "
        "(a key read from a file often ends with a newline)"
    )


def body_excerpt(response: httpx.Response) -> str:
    """A short excerpt of a reply body for an error message (``(empty body)`` when there is none)."""
    return excerpt(response.content) or "(empty body)"


def malformed(what: str, payload: Any) -> MalformedReply:
    """A 2xx reply that lacks what it should carry, with an excerpt of what it did carry."""
    return MalformedReply(f"{what}: {excerpt(json.dumps(payload, ensure_ascii=False))!r}")


class Scrubbed(secrets_in_scope):
    """:meth:`JsonApiProvider.scrubbed`'s block: the secrets in scope, and removed from the message of
    a :class:`ProviderError` leaving it (a class, as :class:`~providers._secrets.secrets_in_scope`)."""

    __slots__ = ("_current",)

    def __init__(self, secrets: Callable[[], list[str]]) -> None:
        super().__init__(secrets())
        self._current = secrets

    def __exit__(self, exc_type: object, exc: object, traceback: object) -> None:
        super().__exit__(exc_type, exc, traceback)
        if isinstance(exc, ProviderError):
            clean = redact(exc.message, self._current())  # again: a token may have been fetched meanwhile
            if clean != exc.message:
                exc.message = clean
                exc.args = (clean,)

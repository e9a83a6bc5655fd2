"""A minimal OpenAI-shaped provider over real HTTP, built on the shared plumbing in providers.http._pool.

It classifies as a real provider must (quota 429 vs rate 429, HTML pages, missing fields), holds its
key as a secret, and echoes the server's error text into its messages, so that tests can check that
the engine scrubs the key from everything it writes.
"""

from __future__ import annotations

from typing import Any, ClassVar

import httpx

from providers import (
    ChatRequest,
    Completion,
    MalformedReply,
    Provider,
    ProviderContext,
    ProviderError,
    QuotaExhausted,
    RateLimitState,
    Usage,
)
from providers._errors import excerpt
from providers.http._pool import ClientPool, json_body, parse_retry_after, status_error

KEY_ENV = "FAKE_CHAT_KEY"


class FakeChatProvider(Provider):
    """``api: fakechat``: POSTs ``/chat/completions`` to the endpoint's ``base_url``."""

    api: ClassVar[str] = "fakechat"

    def __init__(self, context: ProviderContext) -> None:
        super().__init__(context)
        self._key = context.api_key(KEY_ENV) or ""
        self._pool = ClientPool(
            context.settings.base_url or "",
            headers={"authorization": f"Bearer {self._key}"},
            # One local server: a couple of clients are plenty (each costs a TLS context to create).
            expected_concurrency=min(context.expected_concurrency, 32),
        )

    @classmethod
    def check_config(cls, context: ProviderContext) -> list[str]:
        problems = [] if context.api_key(KEY_ENV) else [f"no API key: set {KEY_ENV}"]
        return problems + ([] if context.settings.base_url else ["no base_url"])

    async def complete(self, request: ChatRequest) -> Completion:
        messages = [{"role": m.role, "content": m.text} for m in request.messages]
        response = await self._pool.post(
            "/chat/completions",
            json_body={"model": self.model_name, "messages": messages, **request.parameters},
        )
        if response.status_code >= 400:
            raise self._error(response)
        body = json_body(response)
        try:
            choice = body["choices"][0]
            text = choice["message"]["content"]
        except (KeyError, IndexError, TypeError) as exc:
            raise MalformedReply(
                f"reply has no choices[0].message.content: {excerpt(response.content)!r}",
                status=response.status_code,
            ) from exc
        usage = body.get("usage") or {}
        return Completion(
            text=text,
            finish_reason=choice.get("finish_reason"),
            usage=Usage(usage.get("prompt_tokens"), usage.get("completion_tokens")),
            rate_limit=_rate_limit_state(response.headers),
        )

    def _error(self, response: httpx.Response) -> ProviderError:
        try:
            body: Any = response.json()
        except ValueError:
            body = None
        detail = body.get("error") if isinstance(body, dict) else None
        code = detail.get("code") if isinstance(detail, dict) else None
        message = f"HTTP {response.status_code}: {excerpt(response.content)}"
        if response.status_code == 429 and code == "insufficient_quota":
            return QuotaExhausted(message, status=429)
        return status_error(response.status_code, message, retry_after=parse_retry_after(response.headers))

    def secrets(self) -> list[str]:
        return [self._key]

    async def aclose(self) -> None:
        await self._pool.aclose()


class OtherFakeChatProvider(FakeChatProvider):
    """The same wire format under another ``api`` name (a second queue)."""

    api: ClassVar[str] = "otherchat"


def _rate_limit_state(headers: httpx.Headers) -> RateLimitState | None:
    if "x-ratelimit-remaining-requests" not in headers:
        return None

    def number(name: str) -> float | None:
        value = headers.get(name)
        return float(value.rstrip("s")) if value else None

    requests, tokens = number("x-ratelimit-remaining-requests"), number("x-ratelimit-remaining-tokens")
    return RateLimitState(
        remaining_requests=None if requests is None else int(requests),
        remaining_tokens=None if tokens is None else int(tokens),
        reset_requests_s=number("x-ratelimit-reset-requests"),
        reset_tokens_s=number("x-ratelimit-reset-tokens"),
    )

"""A user's own provider: llama.cpp's native ``/completion`` endpoint (raw text in, text out)."""

from typing import Any, ClassVar

import httpx

from providers import ChatRequest, Completion, JsonApiProvider, Usage


class LlamaServerCompletion(JsonApiProvider):
    """``POST {LLAMA_SERVER_ENDPOINT}/completion`` with ``{"prompt": ..., **parameters}``."""

    api: ClassVar[str] = "llama-server-completion"
    endpoint_env: ClassVar[str | None] = "LLAMA_SERVER_ENDPOINT"  # or endpoint.base_url in the config
    key_env: ClassVar[str | None] = "LLAMA_SERVER_API_KEY"  # sent as a Bearer token when set
    key_required: ClassVar[bool] = False

    def request_path(self, request: ChatRequest) -> str:
        return "completion"

    async def request_body(self, request: ChatRequest) -> dict[str, Any]:
        prompt = request.prompt_text or "\n\n".join(message.text for message in request.messages)
        return {"prompt": prompt, **request.parameters}

    def parse_reply(self, payload: dict[str, Any], response: httpx.Response) -> Completion:
        return Completion(
            text=payload["content"],
            finish_reason=payload.get("stop_type"),
            usage=Usage(payload.get("tokens_evaluated"), payload.get("tokens_predicted")),
        )

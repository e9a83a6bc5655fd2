"""Canned vendor replies, shaped as the real APIs send them (wire-protocols §1–§8).

Each function returns a :class:`~tests.fakes.server.Reply` ready to :meth:`~FakeServer.enqueue`.
Success replies take the text and token counts; error replies reproduce the vendors' real bodies,
including the lookalikes that must not be retried (quota 429s, "Request too large").
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from tests.fakes.server import Reply

HTML_502 = "<html><head><title>502 Bad Gateway</title></head><body><center>nginx</center></body></html>"


def openai_chat(
    text: str | None = "Hello!",
    *,
    finish_reason: str = "stop",
    model: str = "gpt-4o-mini-2024-07-18",
    prompt_tokens: int = 9,
    completion_tokens: int = 3,
    headers: Mapping[str, str] | None = None,
    **message: Any,
) -> Reply:
    """A Chat Completions reply (OpenAI, Azure, TGI, vLLM, llama.cpp)."""
    return Reply.json(
        {
            "id": "chatcmpl-1",
            "object": "chat.completion",
            "created": 1735000000,
            "model": model,
            "choices": [
                {
                    "index": 0,
                    "message": {"role": "assistant", "content": text, "refusal": None, **message},
                    "finish_reason": finish_reason,
                }
            ],
            "usage": {
                "prompt_tokens": prompt_tokens,
                "completion_tokens": completion_tokens,
                "total_tokens": prompt_tokens + completion_tokens,
            },
        },
        headers=headers,
    )


def openai_error(
    status: int,
    message: str,
    *,
    type: str | None = "invalid_request_error",
    code: str | None = None,
    headers: Mapping[str, str] | None = None,
) -> Reply:
    """``{"error": {"message", "type", "param", "code"}}``."""
    error = {"message": message, "type": type, "param": None, "code": code}
    return Reply.json({"error": error}, status=status, headers=headers)


def anthropic_message(
    text: str = "Hello!",
    *,
    stop_reason: str = "end_turn",
    model: str = "claude-sonnet-4-5",
    input_tokens: int = 12,
    output_tokens: int = 4,
    headers: Mapping[str, str] | None = None,
) -> Reply:
    """A Messages API reply with one text block."""
    return Reply.json(
        {
            "id": "msg_01",
            "type": "message",
            "role": "assistant",
            "model": model,
            "content": [{"type": "text", "text": text}] if text else [],
            "stop_reason": stop_reason,
            "stop_sequence": None,
            "usage": {
                "input_tokens": input_tokens,
                "output_tokens": output_tokens,
                "cache_creation_input_tokens": 0,
                "cache_read_input_tokens": 0,
            },
        },
        headers={"request-id": "req_01", **(headers or {})},
    )


def anthropic_error(
    status: int,
    error_type: str,
    message: str,
    *,
    details: Mapping[str, Any] | None = None,
    headers: Mapping[str, str] | None = None,
) -> Reply:
    """``{"type": "error", "error": {"type", "message", "details"}, "request_id"}``."""
    error = {"type": error_type, "message": message, "details": dict(details) if details else None}
    return Reply.json(
        {"type": "error", "error": error, "request_id": "req_01"}, status=status, headers=headers
    )


def gemini_response(
    text: str | None = "Hello!",
    *,
    finish_reason: str = "STOP",
    model_version: str = "gemini-2.5-flash",
    prompt_tokens: int = 8,
    candidates_tokens: int = 2,
    thoughts_tokens: int | None = None,
) -> Reply:
    """A ``generateContent`` reply with one candidate."""
    content: dict[str, Any] = {"role": "model"}
    if text is not None:
        content["parts"] = [{"text": text}]
    usage: dict[str, Any] = {"promptTokenCount": prompt_tokens, "candidatesTokenCount": candidates_tokens}
    if thoughts_tokens is not None:
        usage["thoughtsTokenCount"] = thoughts_tokens
    usage["totalTokenCount"] = prompt_tokens + candidates_tokens + (thoughts_tokens or 0)
    candidate = {"content": content, "finishReason": finish_reason, "index": 0}
    return Reply.json(
        {"candidates": [candidate], "usageMetadata": usage, "modelVersion": model_version, "responseId": "r1"}
    )


def google_error(
    status: int, rpc_status: str, message: str, *, details: list[dict[str, Any]] | None = None
) -> Reply:
    """``{"error": {"code", "message", "status", "details"}}``."""
    error = {"code": status, "message": message, "status": rpc_status, "details": details or []}
    return Reply.json({"error": error}, status=status)


def gemini_quota_429(quota_id: str, retry_delay: str = "23s") -> Reply:
    """The real Gemini 429: ``QuotaFailure`` naming the quota and ``RetryInfo`` with the wait."""
    return google_error(
        429,
        "RESOURCE_EXHAUSTED",
        "You exceeded your current quota, please check your plan and billing details. "
        "Please retry in 23.47s.",
        details=[
            {
                "@type": "type.googleapis.com/google.rpc.QuotaFailure",
                "violations": [{"quotaMetric": "generate_content_free_tier_requests", "quotaId": quota_id}],
            },
            {"@type": "type.googleapis.com/google.rpc.RetryInfo", "retryDelay": retry_delay},
        ],
    )


def ollama_chat(
    text: str = "Hello!",
    *,
    done_reason: str = "stop",
    model: str = "llama3.2",
    prompt: int = 11,
    output: int = 18,
) -> Reply:
    """A non-streaming ``/api/chat`` reply (durations in nanoseconds)."""
    return Reply.json(
        {
            "model": model,
            "created_at": "2025-10-17T23:14:07.414671Z",
            "message": {"role": "assistant", "content": text},
            "done": True,
            "done_reason": done_reason,
            "total_duration": 174560334,
            "prompt_eval_count": prompt,
            "eval_count": output,
        }
    )


def ollama_generate(
    text: str = "Hello!",
    *,
    done_reason: str = "stop",
    model: str = "llama3.2",
    prompt: int = 11,
    output: int = 18,
    **fields: Any,
) -> Reply:
    """A non-streaming ``/api/generate`` reply, which a plain prompt gets (durations in nanoseconds,
    ``context``: the token ids Ollama hands back); ``fields`` are added or replace its own."""
    return Reply.json(
        {
            "model": model,
            "created_at": "2025-10-17T23:14:07.414671Z",
            "response": text,
            "done": True,
            "done_reason": done_reason,
            "context": [1, 2, 3],
            "total_duration": 174560334,
            "prompt_eval_count": prompt,
            "eval_count": output,
            **fields,
        }
    )

"""Providers: one small module per API, registered under its ``api`` name.

See :mod:`providers._base` for the contract and :mod:`providers._errors` for the error hierarchy.
"""

from providers._base import EndpointSettings, Provider, ProviderContext, model_env_suffix
from providers._errors import (
    AuthError,
    BadRequest,
    ConnectionFailed,
    MalformedReply,
    NotFound,
    ProviderError,
    QuotaExhausted,
    RateLimited,
    RequestTimeout,
    SafetyBlocked,
    ServerError,
    TransientError,
)
from providers._features import OutputLimit, Reasoning, RequestFeatures, ToolCall, ToolSpec
from providers._importer import TargetImportError, import_object
from providers._json_api import JsonApiProvider
from providers._registry import (
    UnknownApiError,
    import_target,
    known_apis,
    provider_class,
    register,
    unregister,
)
from providers._reply import Completion, RateLimitState, Usage
from providers._secrets import mask_url_credentials, redact
from providers._types import ChatRequest, ContentPart, MediaPart, Message, TextPart

__all__ = [
    "AuthError",
    "BadRequest",
    "ChatRequest",
    "Completion",
    "ConnectionFailed",
    "ContentPart",
    "EndpointSettings",
    "JsonApiProvider",
    "MalformedReply",
    "MediaPart",
    "Message",
    "NotFound",
    "OutputLimit",
    "Provider",
    "ProviderContext",
    "ProviderError",
    "QuotaExhausted",
    "RateLimitState",
    "RateLimited",
    "Reasoning",
    "RequestFeatures",
    "RequestTimeout",
    "SafetyBlocked",
    "ServerError",
    "TargetImportError",
    "TextPart",
    "ToolCall",
    "ToolSpec",
    "TransientError",
    "UnknownApiError",
    "Usage",
    "import_object",
    "import_target",
    "known_apis",
    "mask_url_credentials",
    "model_env_suffix",
    "provider_class",
    "redact",
    "register",
    "unregister",
]

"""Vendor batch APIs: the same requests at half the price, answered within a day.

:mod:`providers.batch._api` holds the contract; one module per vendor protocol implements it
(:mod:`~providers.batch.openai`, :mod:`~providers.batch.azure_openai` on the same protocol,
:mod:`~providers.batch.anthropic`, :mod:`~providers.batch.gemini`). A provider names its batch API
by import path (:attr:`providers.JsonApiProvider.batch_api`), imported only by a run that batches.
"""

from __future__ import annotations

from providers._base import Provider
from providers._importer import import_object
from providers._json_api import JsonApiProvider
from providers.batch._api import (
    BatchApi,
    BatchCancelled,
    BatchExpired,
    BatchLimits,
    BatchNotRun,
    BatchResult,
    BatchStatus,
    BatchTag,
    completed_counts,
)


def has_batch_api(provider_type: type[Provider]) -> bool:
    """Whether the provider class names a batch API."""
    return issubclass(provider_type, JsonApiProvider) and provider_type.batch_api is not None


def batch_api_for(provider: Provider) -> BatchApi | None:
    """The batch API of ``provider``'s vendor, bound to it; ``None`` where the API has none."""
    if not isinstance(provider, JsonApiProvider) or provider.batch_api is None:
        return None
    batch_type = import_object(provider.batch_api)
    if not (isinstance(batch_type, type) and issubclass(batch_type, BatchApi)):
        raise TypeError(f"{provider.batch_api} is not a providers.batch.BatchApi")
    return batch_type(provider)


__all__ = [
    "BatchApi",
    "BatchCancelled",
    "BatchExpired",
    "BatchLimits",
    "BatchNotRun",
    "BatchResult",
    "BatchStatus",
    "BatchTag",
    "batch_api_for",
    "completed_counts",
    "has_batch_api",
]

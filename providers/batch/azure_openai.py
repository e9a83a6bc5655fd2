"""Azure OpenAI's global batch: OpenAI's Batch API protocol (:mod:`providers.batch.openai`) with Azure's
paths (``{endpoint}/openai/files?api-version=…``), line ``url`` and batch ``endpoint``
(``/chat/completions``, without ``/v1``), and an upload that must reach ``processed`` before a batch
may name it. ``body.model`` is the deployment name, as ``model_name`` is in the live request.
"""

from __future__ import annotations

from typing import ClassVar
from urllib.parse import quote, urlencode

import trio

from providers._errors import BadRequest, excerpt
from providers._json_api import JsonApiProvider, JsonObject
from providers._json_fields import str_at
from providers.azure_openai import AzureOpenAIProvider
from providers.batch._api import MB, BatchLimits, BatchNotRun
from providers.batch.openai import OpenAIBatch


class AzureOpenAIBatch(OpenAIBatch):
    """Azure OpenAI's global batch: ``{endpoint}/openai/files`` and ``/openai/batches`` with the
    provider's ``api-version``, lines calling ``/chat/completions`` on a Global-Batch deployment."""

    limits: ClassVar[BatchLimits] = BatchLimits(max_requests=100_000, max_bytes=200 * MB)
    """Azure OpenAI quotas and limits, "Global batch limits": max requests per file 100,000, max input
    file size 200 MB."""
    endpoint: ClassVar[str] = "/chat/completions"
    file_poll_seconds: float = 2.0
    """How often an upload's status is looked at until it is ``processed``."""
    file_wait_seconds: float = 600.0
    """How long an upload may stay unprocessed before the submit fails (and is retried)."""

    def __init__(self, provider: JsonApiProvider) -> None:
        if not isinstance(provider, AzureOpenAIProvider):
            raise TypeError(f"AzureOpenAIBatch batches for api 'azure-openai', not {provider.api!r}")
        super().__init__(provider)
        self.api_version = provider.api_version

    def path(self, resource: str, **query: str | int) -> str:
        """``openai/{resource}`` with ``api-version`` (Azure answers 404 without it)."""
        return f"openai/{resource}?{urlencode({'api-version': self.api_version, **query})}"

    async def wait_until_processed(self, uploaded: JsonObject) -> None:
        """Azure's docs: a batch may name a file only once its status is ``processed``; ``error``
        (a file Azure could not read) is the file's :class:`BadRequest`."""
        file_id = self._required_str(uploaded, "id", "the uploaded file")
        file = uploaded
        with trio.move_on_after(self.file_wait_seconds):
            while (state := str_at(file, "status")) not in (None, "processed"):
                if state == "error":
                    details = str_at(file, "status_details") or "no details"
                    raise BadRequest(f"Azure could not process the batch file {file_id}: {excerpt(details)}")
                await trio.sleep(self.file_poll_seconds)
                file = await self._json("GET", self.path(f"files/{quote(file_id, safe='')}"))
            return
        raise BatchNotRun(f"the batch file {file_id} was not processed within {self.file_wait_seconds:g} s")

"""``api: vertexai``: Gemini models on Vertex AI.

``POST {base}/v1/projects/{p}/locations/{l}/publishers/google/models/{m}:generateContent``

* project: ``endpoint.options.project``, else ``VERTEXAI_PROJECT_ID``;
* location: ``endpoint.options.location``, else ``VERTEXAI_LOCATION`` (or prompto's ``VERTEXAI_LOCATION_ID``),
  else :data:`DEFAULT_LOCATION`;
* token: ``VERTEXAI_ACCESS_TOKEN``, else the output of ``gcloud auth print-access-token``, run once and
  again only after :data:`TOKEN_REFRESH_S`, or when the server refuses it with a 401 (revoked, or
  expired early): then the request is sent once more with a fresh token before the 401 counts
  (``endpoint.options.token_command`` replaces the command);
* base URL: ``endpoint.base_url``, else ``VERTEXAI_BASE_URL``, else the location's regional host.

Every variable also has a model-specific form (``VERTEXAI_PROJECT_ID_<model>``). Parameters, safety filter
and media: see :mod:`providers._google.base` (a media part may also set ``mediaResolution``: Vertex's ``Part``
defines it). Vertex's ``usageMetadata.trafficType`` is the record's ``service_tier``.
"""

from __future__ import annotations

import shutil
from collections.abc import Mapping, Sequence
from typing import ClassVar
from urllib.parse import quote

import trio

from providers._base import ProviderContext
from providers._errors import AuthError, excerpt
from providers._google.base import GenerateContentProvider
from providers._json_api import env_choice, key_problem
from providers._reply import Completion
from providers._secrets import credential_flaw
from providers._types import ChatRequest

DEFAULT_LOCATION = "us-central1"
TOKEN_COMMAND = ("gcloud", "auth", "print-access-token")
TOKEN_REFRESH_S = 45 * 60.0
"""gcloud's access tokens live about an hour: a long run fetches a fresh one after this long."""
FRESH_TOKEN_S = 10.0
"""A token fetched this recently is not fetched again on a 401: the refusal is about something else."""


class VertexAIProvider(GenerateContentProvider):
    """The OAuth flavour of ``generateContent``: project and location in the path, a Bearer token."""

    api: ClassVar[str] = "vertexai"
    endpoint_env: ClassVar[str | None] = "VERTEXAI_BASE_URL"
    key_required: ClassVar[bool] = False  # authenticated by a token, not a key
    option_names: ClassVar[frozenset[str]] = frozenset({"project", "location", "token_command"})
    part_options: ClassVar[Mapping[str, frozenset[str]]] = {
        kind: frozenset({"mediaResolution", "videoMetadata"} if kind == "video" else {"mediaResolution"})
        for kind in ("image", "video", "audio", "document")
    }
    """Vertex's ``Part`` also takes a ``mediaResolution`` (``{level: MEDIA_RESOLUTION_LOW...}``) per part."""

    def __init__(self, context: ProviderContext) -> None:
        super().__init__(context)
        self.project = self._project(context)
        self.location = self._location(context)
        self._token = context.env("VERTEXAI_ACCESS_TOKEN")
        self._token_from_command = self._token is None
        self._token_expires = float("inf") if self._token else float("-inf")
        self._token_fetched_at = float("-inf")
        self._tokens: list[str] = [self._token] if self._token else []
        self._token_lock = trio.Lock()

    @staticmethod
    def _project(context: ProviderContext) -> str | None:
        project = context.option("project", "VERTEXAI_PROJECT_ID")
        return str(project) if project else None

    @staticmethod
    def _location(context: ProviderContext) -> str:
        location = context.option("location", "VERTEXAI_LOCATION") or context.env("VERTEXAI_LOCATION_ID")
        return str(location or DEFAULT_LOCATION)

    @staticmethod
    def _token_command(context: ProviderContext) -> Sequence[str]:
        return tuple(context.option("token_command", default=TOKEN_COMMAND))

    @classmethod
    def resolve_endpoint(cls, context: ProviderContext) -> str | None:
        """An explicit base URL, else the regional host (``global`` has none)."""
        if explicit := super().resolve_endpoint(context):
            return explicit
        location = cls._location(context)
        return (
            "https://aiplatform.googleapis.com"
            if location == "global"
            else f"https://{location}-aiplatform.googleapis.com"
        )

    @classmethod
    def check_config(cls, context: ProviderContext) -> list[str]:
        """A project, and a token or a command to get one."""
        problems = super().check_config(context)
        if cls._project(context) is None:
            problems.append(
                f"api 'vertexai' needs a project: set {env_choice('VERTEXAI_PROJECT_ID', context)} "
                "or endpoint.options.project in the model config"
            )
        command = cls._token_command(context)
        token = context.env("VERTEXAI_ACCESS_TOKEN")
        if not token and (not command or shutil.which(command[0]) is None):
            problems.append(
                "api 'vertexai' needs an access token: set VERTEXAI_ACCESS_TOKEN, or install the gcloud CLI "
                "and run `gcloud auth login`"
            )
        elif token and (flaw := credential_flaw(token)):
            variable = context.env_source("VERTEXAI_ACCESS_TOKEN") or "VERTEXAI_ACCESS_TOKEN"
            problems.append(key_problem(cls.api, variable, flaw))
        return problems

    def secrets(self) -> list[str]:
        """Every access token of the run (an old one may still be quoted by an error), and any
        credentials in the base URL."""
        return [*super().secrets(), *self._tokens]

    async def complete(self, request: ChatRequest) -> Completion:
        """One request; a 401 on a token from the command is retried once with a fresh token."""
        token = await self._access_token() if self._token_from_command else None
        try:
            return await super().complete(request)
        except AuthError as exc:
            if exc.status != 401 or token is None or not await self._renewed(token):
                raise
        return await super().complete(request)

    async def _renewed(self, refused: str) -> bool:
        """Whether a token other than ``refused`` is (or will be) used. Many requests in flight meet the
        same refusal: the first expires the token, the others find that it was replaced."""
        async with self._token_lock:
            if self._token != refused:
                return True
            if trio.current_time() - self._token_fetched_at <= FRESH_TOKEN_S:
                return False  # refused as soon as it was fetched: a new one would not help
            self._token_expires = float("-inf")
            return True

    def request_path(self, request: ChatRequest) -> str:
        """The publisher model's ``generateContent`` (or ``streamGenerateContent?alt=sse``) under the
        project and location."""
        return (
            f"v1/projects/{quote(self.project or '', safe='')}/locations/{quote(self.location, safe='')}"
            f"/publishers/google/models/{quote(request.model_name, safe='')}:{self.method(request)}"
        )

    async def request_headers(self) -> Mapping[str, str]:
        """``Authorization: Bearer`` with the cached (or freshly fetched) token."""
        return {"Authorization": f"Bearer {await self._access_token()}"}

    async def _access_token(self) -> str:
        async with self._token_lock:  # one gcloud call even when many requests start at once
            if self._token is None or trio.current_time() >= self._token_expires:
                self._token = await self._fetch_token()
                self._tokens.append(self._token)
                self._token_fetched_at = trio.current_time()
                self._token_expires = self._token_fetched_at + TOKEN_REFRESH_S
            return self._token

    async def _fetch_token(self) -> str:
        command = list(self._token_command(self.context))
        advice = "set VERTEXAI_ACCESS_TOKEN or run `gcloud auth login`"
        try:
            result = await trio.run_process(command, capture_stdout=True, capture_stderr=True, check=False)
        except OSError as exc:
            raise AuthError(
                f"no Vertex AI access token: cannot run {command[0]!r} ({exc}); {advice}"
            ) from exc
        token = result.stdout.decode(errors="replace").strip()
        if result.returncode != 0 or not token:
            raise AuthError(
                f"no Vertex AI access token: `{' '.join(command)}` exited {result.returncode}: "
                f"{excerpt(result.stderr) or '(no output)'}; {advice}"
            )
        return token

"""The Gemini API's Files API: upload a media file once, then send its URI (``fileData.fileUri``).

Google's resumable upload protocol, in two requests:

1. ``POST {base}/upload/v1beta/files`` with ``X-Goog-Upload-Protocol: resumable``,
   ``X-Goog-Upload-Command: start``, the file's size and type in ``X-Goog-Upload-Header-Content-Length``
   / ``-Content-Type`` and ``{"file": {"display_name": ...}}``; the answer's ``X-Goog-Upload-URL``
   header is where the bytes go;
2. ``POST`` the bytes there with ``X-Goog-Upload-Command: upload, finalize`` and
   ``X-Goog-Upload-Offset: 0``; the answer is ``{"file": {name, uri, mimeType, state, sha256Hash...}}``.

A file whose ``state`` is ``PROCESSING`` (videos) is polled (``GET {base}/v1beta/{name}``) until it
is ``ACTIVE``; ``FAILED`` is an error. As prompto does, a file already uploaded (same SHA-256 as one
``GET {base}/v1beta/files`` lists) is not uploaded again. The key is ``GEMINI_API_KEY``, sent as
``x-goog-api-key``; the base URL is ``GEMINI_BASE_URL``, else Google's.
"""

from __future__ import annotations

import base64
import binascii
import hashlib
import mimetypes
import time
from collections.abc import Callable, Iterator, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import httpx

DEFAULT_BASE_URL = "https://generativelanguage.googleapis.com"
KEY_ENV = "GEMINI_API_KEY"
BASE_URL_ENV = "GEMINI_BASE_URL"
POLL_INTERVAL_S = 10.0
MAX_WAIT_S = 30 * 60.0


class FilesApiError(RuntimeError):
    """The Files API refused or failed a request; the message says which and why."""


@dataclass(frozen=True, slots=True)
class RemoteFile:
    """One file the Files API holds."""

    name: str
    """``files/abc123``: prompto's ``uploaded_filename``."""
    uri: str
    """What a request's ``fileData.fileUri`` names."""
    mime_type: str
    state: str
    sha256_hex: str | None

    @classmethod
    def from_json(cls, data: Mapping[str, Any]) -> RemoteFile:
        return cls(
            name=str(data.get("name", "")),
            uri=str(data.get("uri", "")),
            mime_type=str(data.get("mimeType", "")),
            state=str(data.get("state", "STATE_UNSPECIFIED")),
            sha256_hex=_hash_hex(data.get("sha256Hash")),
        )


def _hash_hex(value: Any) -> str | None:
    """``sha256Hash`` is base64 bytes: the 32-byte digest, or (as the API has sent it) its hex text."""
    if not isinstance(value, str) or not value:
        return None
    try:
        raw = base64.b64decode(value, validate=True)
    except (binascii.Error, ValueError):
        return None
    if len(raw) == 32:
        return raw.hex()
    text = raw.decode("ascii", errors="replace").lower()
    return text if len(text) == 64 and all(c in "0123456789abcdef" for c in text) else None


def file_sha256(path: Path) -> str:
    """The file's SHA-256, hex, read in 1 MiB blocks."""
    digest = hashlib.sha256()
    with path.open("rb") as file:
        while block := file.read(1 << 20):
            digest.update(block)
    return digest.hexdigest()


class GeminiFiles:
    """A Files API client (synchronous: a command's one-off job, not a run's traffic)."""

    def __init__(
        self,
        api_key: str,
        base_url: str = DEFAULT_BASE_URL,
        *,
        client: httpx.Client | None = None,
        poll_interval_s: float = POLL_INTERVAL_S,
        sleep: Callable[[float], None] = time.sleep,
    ) -> None:
        self.base_url = base_url.rstrip("/")
        self._client = client or httpx.Client(timeout=httpx.Timeout(300.0, connect=30.0))
        self._headers = {"x-goog-api-key": api_key}
        self._poll_interval_s = poll_interval_s
        self._sleep = sleep

    @classmethod
    def from_environ(cls, environ: Mapping[str, str], **kwargs: Any) -> GeminiFiles:
        key = environ.get(KEY_ENV)
        if not key:
            raise FilesApiError(f"{KEY_ENV} is not set: the Files API needs the Gemini API key")
        return cls(key, environ.get(BASE_URL_ENV) or DEFAULT_BASE_URL, **kwargs)

    def close(self) -> None:
        self._client.close()

    def __enter__(self) -> GeminiFiles:
        return self

    def __exit__(self, *_: object) -> None:
        self.close()

    def list_files(self) -> Iterator[RemoteFile]:
        """Every file the key's project holds, page by page."""
        token: str | None = None
        while True:
            params = {"pageSize": "100", **({"pageToken": token} if token else {})}
            payload = self._json(
                self._client.get(f"{self.base_url}/v1beta/files", params=params, headers=self._headers),
                "list files",
            )
            for data in payload.get("files", []):
                yield RemoteFile.from_json(data)
            token = payload.get("nextPageToken")
            if not token:
                return

    def get(self, name: str) -> RemoteFile:
        response = self._client.get(f"{self.base_url}/v1beta/{name}", headers=self._headers)
        return RemoteFile.from_json(self._json(response, f"get {name}"))

    def delete(self, name: str) -> None:
        response = self._client.delete(f"{self.base_url}/v1beta/{name}", headers=self._headers)
        self._json(response, f"delete {name}")

    def upload(self, path: Path, mime_type: str | None = None) -> RemoteFile:
        """Upload ``path`` (resumable protocol, start then upload+finalize) and wait until it is ACTIVE."""
        size = path.stat().st_size
        mime = mime_type or mimetypes.guess_type(path.name)[0] or "application/octet-stream"
        start = self._client.post(
            f"{self.base_url}/upload/v1beta/files",
            headers={
                **self._headers,
                "X-Goog-Upload-Protocol": "resumable",
                "X-Goog-Upload-Command": "start",
                "X-Goog-Upload-Header-Content-Length": str(size),
                "X-Goog-Upload-Header-Content-Type": mime,
            },
            json={"file": {"display_name": path.name}},
        )
        self._json(start, f"start the upload of {path}")
        upload_url = start.headers.get("x-goog-upload-url")
        if not upload_url:
            raise FilesApiError(f"start the upload of {path}: the answer has no X-Goog-Upload-URL header")
        with path.open("rb") as file:
            finished = self._client.post(
                upload_url,
                headers={
                    "Content-Length": str(size),
                    "X-Goog-Upload-Offset": "0",
                    "X-Goog-Upload-Command": "upload, finalize",
                },
                content=file.read(),
            )
        payload = self._json(finished, f"upload {path}")
        if not isinstance(payload.get("file"), dict):
            raise FilesApiError(f"upload {path}: the answer holds no file: {payload}")
        return self.wait_until_active(RemoteFile.from_json(payload["file"]))

    def wait_until_active(self, remote: RemoteFile, *, max_wait_s: float = MAX_WAIT_S) -> RemoteFile:
        waited = 0.0
        while remote.state == "PROCESSING":
            if waited >= max_wait_s:
                raise FilesApiError(f"{remote.name} is still PROCESSING after {waited:.0f} s")
            self._sleep(self._poll_interval_s)
            waited += self._poll_interval_s
            remote = self.get(remote.name)
        if remote.state == "FAILED":
            raise FilesApiError(f"{remote.name}: the Files API failed to process the file")
        return remote

    @staticmethod
    def _json(response: httpx.Response, action: str) -> dict[str, Any]:
        if response.status_code >= 400:
            try:
                message = response.json().get("error", {}).get("message") or response.text
            except ValueError:
                message = response.text
            raise FilesApiError(f"{action}: HTTP {response.status_code}: {message[:500]}")
        if not response.content:
            return {}
        try:
            payload = response.json()
        except ValueError:
            raise FilesApiError(f"{action}: the answer is not JSON: {response.text[:200]}") from None
        return payload if isinstance(payload, dict) else {}

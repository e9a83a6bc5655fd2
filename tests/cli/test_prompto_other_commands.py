"""prompto's other commands, run as a user runs them (the installed console scripts, from a user's
folder): ``prompto_create_judge_file``, ``prompto_obtain_missing_jsonl``, ``prompto_upload_media``
(against a fake Gemini Files API on 127.0.0.1 speaking the resumable upload protocol),
``prompto_convert_images``; and ``prompto-score`` / ``prompto-judge`` on a completed file prompto made.

With ``PROMPTO_REFERENCE`` set to the ``bin/`` folder of an environment holding prompto 0.2.1, the
judge file and the missing-prompts file are compared byte for byte with prompto's own.
"""

from __future__ import annotations

import base64
import hashlib
import http.server
import json
import os
import subprocess
import sys
import threading
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from providers import MediaPart
from providers._google.gemini_files import GeminiFiles, RemoteFile
from runner.prompts._conversation import parse_prompt
from tests.cli.prompto_reference import reference_bin
from tests.conftest import REPO_ROOT, read_jsonl, run_installed, write_jsonl

N_LINES = 3000
KEY = "test-key"


def _reference(command: str) -> Path | None:
    reference = reference_bin()
    path = Path(reference) / command if reference else None
    return path if path is not None and path.is_file() else None


def _completed_rows(n: int) -> list[dict[str, Any]]:
    rows: list[dict[str, Any]] = []
    for i in range(n):
        row: dict[str, Any] = {"id": i, "api": "simulated", "model_name": "m", "prompt": f"question {i} é"}
        row["response"] = (
            f"answer {i}"
            if i % 7
            else "An unexpected error occurred when querying the API: (ValueError - x) after maximum 5 "
            "attempts"
        )
        row["expected_response"] = f"answer {i}"
        rows.append(row)
    if n > 3:
        rows[3]["prompt"] = [
            "turn one",
            "turn two",
        ]  # a multi-turn prompt, filled as prompto fills it (its repr)
    return rows


@pytest.fixture
def judge_folder(tmp_path: Path) -> Path:
    folder = tmp_path / "judge"
    folder.mkdir()
    (folder / "template.txt").write_text("Q: {INPUT_PROMPT}\nA: {OUTPUT_RESPONSE}\nGood? {{yes|no}}\n")
    (folder / "short.txt").write_text("{OUTPUT_RESPONSE}")
    settings = {
        "gemini-judge": {"api": "gemini", "model_name": "gemini-1.5-flash", "parameters": {"temperature": 0}},
        "other": {"api": "openai", "model_name": "gpt-4o", "parameters": {}},
    }
    (folder / "settings.json").write_text(json.dumps(settings))
    return folder


# --- prompto_create_judge_file ---------------------------------------------------------------------


def test_create_judge_file_writes_prompts_judge_file(tmp_path: Path, judge_folder: Path) -> None:
    completed = write_jsonl(tmp_path / "20240101-completed-exp.jsonl", _completed_rows(N_LINES))
    (tmp_path / "out").mkdir()

    result = run_installed(
        "prompto_create_judge_file", "-i", completed.name, "-l", "judge", "-t", "template.txt, short.txt",
        "-j", "gemini-judge,other,gemini-judge", "-o", "out", cwd=tmp_path,
    )  # fmt: skip

    assert result.returncode == 0, result.stderr
    made = tmp_path / "out" / "judge-20240101-exp.jsonl"
    lines = read_jsonl(made)
    assert len(lines) == 2 * 2 * N_LINES  # judges (the repeat dropped) x templates x responses
    first = lines[0]
    assert first == {
        "id": "judge-gemini-judge-template-0",
        "template_name": "template",
        "prompt": "Q: question 0 é\nA: An unexpected error occurred when querying the API: (ValueError - x) "
        "after maximum 5 attempts\nGood? {yes|no}\n",
        "api": "gemini",
        "model_name": "gemini-1.5-flash",
        "parameters": {"temperature": 0},
        **{f"input-{k}": v for k, v in _completed_rows(1)[0].items()},
    }
    assert lines[3]["prompt"].startswith("Q: ['turn one', 'turn two']")
    assert lines[N_LINES]["template_name"] == "short"
    assert lines[2 * N_LINES]["id"] == "judge-other-template-0"
    reference = _reference("prompto_create_judge_file")
    if reference is not None:
        (tmp_path / "ref").mkdir()
        args = ["-i", completed.name, "-l", "judge", "-t", "template.txt, short.txt"]
        args += ["-j", "gemini-judge,other,gemini-judge", "-o", "ref"]
        subprocess.run([str(reference), *args], cwd=tmp_path, check=True, capture_output=True)
        assert made.read_bytes() == (tmp_path / "ref" / made.name).read_bytes()


def test_create_judge_takes_the_names_prompto_docs_use(tmp_path: Path, judge_folder: Path) -> None:
    completed = write_jsonl(tmp_path / "completed-exp.jsonl", _completed_rows(5))

    result = run_installed(
        "prompto_create_judge", "--experiment-file", completed.name, "--judge-location", "judge",
        "--judge", "other", cwd=tmp_path,
    )  # fmt: skip

    assert result.returncode == 0, result.stderr
    assert len(read_jsonl(tmp_path / "judge-exp.jsonl")) == 5


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["-j", "nobody"], "'nobody' is not a key"),
        (["-j", "other", "-t", "missing.txt"], "does not exist"),
        (["-j", "other", "-t", "template.md"], "must end with '.txt'"),
    ],
)
def test_create_judge_file_mistakes_say_why_and_exit_2(
    tmp_path: Path, judge_folder: Path, args: list[str], message: str
) -> None:
    completed = write_jsonl(tmp_path / "completed-exp.jsonl", _completed_rows(2))

    result = run_installed(
        "prompto_create_judge_file", "-i", completed.name, "-l", "judge", *args, cwd=tmp_path
    )

    assert result.returncode == 2
    assert message in result.stderr
    assert "Traceback" not in result.stderr


# --- prompto_obtain_missing_jsonl ------------------------------------------------------------------


def test_obtain_missing_jsonl_appends_the_prompts_without_a_result(tmp_path: Path) -> None:
    prompts = [{"id": i, "prompt": f"p{i}", "api": "simulated", "model_name": "m"} for i in range(N_LINES)]
    write_jsonl(tmp_path / "input.jsonl", prompts)
    done = [{**row, "response": "r"} for row in prompts if row["id"] % 3]
    done[0] = {**done[0], "id": float(done[0]["id"])}  # 1.0 is id 1, as in prompto's list lookup
    write_jsonl(tmp_path / "output.jsonl", done)
    with (tmp_path / "output.jsonl").open("a") as output:
        output.write("not json\n")
    (tmp_path / "new.jsonl").write_text('{"id": "already there"}\n')

    result = run_installed(
        "prompto_obtain_missing_jsonl",
        "-i",
        "input.jsonl",
        "-o",
        "output.jsonl",
        "-n",
        "new.jsonl",
        cwd=tmp_path,
    )

    assert result.returncode == 0, result.stderr
    missing = [row for row in prompts if row["id"] % 3 == 0]
    assert read_jsonl(tmp_path / "new.jsonl") == [{"id": "already there"}, *missing]
    assert f"Added {len(missing)} missing prompts to new.jsonl" in result.stdout
    assert "Error reading line: not json" in result.stdout
    reference = _reference("prompto_obtain_missing_jsonl")
    if reference is not None:
        (tmp_path / "ref.jsonl").write_text('{"id": "already there"}\n')
        args = ["-i", "input.jsonl", "-o", "output.jsonl", "-n", "ref.jsonl"]
        subprocess.run([str(reference), *args], cwd=tmp_path, check=True, capture_output=True)
        assert (tmp_path / "new.jsonl").read_bytes() == (tmp_path / "ref.jsonl").read_bytes()


def test_obtain_missing_results_takes_the_names_prompto_docs_use(tmp_path: Path) -> None:
    write_jsonl(tmp_path / "in.jsonl", [{"key": "a"}, {"key": "b"}])
    write_jsonl(tmp_path / "out.jsonl", [{"key": "a", "response": "r"}])

    result = run_installed(
        "prompto_obtain_missing_results", "--input-experiment", "in.jsonl",
        "--output-experiment", "out.jsonl", "--missing-results", "missing.jsonl", "--id", "key", cwd=tmp_path,
    )  # fmt: skip

    assert result.returncode == 0, result.stderr
    assert read_jsonl(tmp_path / "missing.jsonl") == [{"key": "b"}]
    again = run_installed(
        "prompto_obtain_missing_jsonl", "-i", "out.jsonl", "-o", "out.jsonl", "-n", "x.jsonl", "--id", "key",
        cwd=tmp_path,
    )  # fmt: skip
    assert again.stdout.strip() == "No missing prompts found"
    assert not (tmp_path / "x.jsonl").exists()


# --- prompto_upload_media --------------------------------------------------------------------------


class FakeFilesApi:
    """Gemini's Files API as far as uploads go: resumable start, upload+finalize, get, list, delete."""

    def __init__(self) -> None:
        self.files: dict[str, dict[str, Any]] = {}
        self.sessions: dict[str, dict[str, Any]] = {}
        self.requests: list[tuple[str, str, dict[str, str]]] = []
        self.lock = threading.Lock()
        api = self

        class Handler(http.server.BaseHTTPRequestHandler):
            def log_message(self, *_: Any) -> None:
                pass

            def _reply(
                self, status: int, body: dict[str, Any], headers: dict[str, str] | None = None
            ) -> None:
                data = json.dumps(body).encode()
                self.send_response(status)
                self.send_header("Content-Type", "application/json")
                self.send_header("Content-Length", str(len(data)))
                for name, value in (headers or {}).items():
                    self.send_header(name, value)
                self.end_headers()
                self.wfile.write(data)

            def _handle(self) -> None:
                length = int(self.headers.get("Content-Length") or 0)
                body = self.rfile.read(length)
                with api.lock:
                    api.requests.append(
                        (self.command, self.path, {k.lower(): v for k, v in self.headers.items()})
                    )
                    status, reply, headers = api.answer(self.command, self.path, self.headers, body)
                self._reply(status, reply, headers)

            do_GET = do_POST = do_DELETE = _handle

        self.server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.base_url = f"http://127.0.0.1:{self.server.server_address[1]}"

    def answer(
        self, method: str, path: str, headers: Any, body: bytes
    ) -> tuple[int, dict[str, Any], dict[str, str]]:
        if method == "POST" and path == "/upload/v1beta/files":
            if headers.get("x-goog-api-key") != KEY:
                return (
                    400,
                    {"error": {"code": 400, "message": "API key not valid", "status": "INVALID_ARGUMENT"}},
                    {},
                )
            if (
                headers.get("X-Goog-Upload-Protocol") != "resumable"
                or headers.get("X-Goog-Upload-Command") != "start"
            ):
                return 400, {"error": {"message": "expected a resumable start"}}, {}
            session = f"s{len(self.sessions)}"
            self.sessions[session] = {
                "length": int(headers["X-Goog-Upload-Header-Content-Length"]),
                "mime": headers["X-Goog-Upload-Header-Content-Type"],
                "display_name": json.loads(body)["file"]["display_name"],
            }
            return 200, {}, {"X-Goog-Upload-URL": f"{self.base_url}/upload/v1beta/files?upload_id={session}"}
        if method == "POST" and path.startswith("/upload/v1beta/files?upload_id="):
            session = self.sessions.pop(path.rsplit("=", 1)[1])
            assert headers["X-Goog-Upload-Command"] == "upload, finalize"
            assert headers["X-Goog-Upload-Offset"] == "0"
            assert len(body) == session["length"]
            name = f"files/f{len(self.files)}"
            hex_digest = hashlib.sha256(body).hexdigest()
            self.files[name] = {
                "name": name,
                "displayName": session["display_name"],
                "mimeType": session["mime"],
                "sizeBytes": str(len(body)),
                "sha256Hash": base64.b64encode(hex_digest.encode()).decode(),  # as the API sends it
                "uri": f"https://generativelanguage.googleapis.com/v1beta/{name}",
                "state": "ACTIVE",
            }
            return 200, {"file": self.files[name]}, {}
        if headers.get("x-goog-api-key") != KEY:
            return 403, {"error": {"message": "no key"}}, {}
        if method == "GET" and path.startswith("/v1beta/files?"):
            return 200, {"files": list(self.files.values())}, {}
        if method == "GET" and path.startswith("/v1beta/files/"):
            return 200, self.files[path.removeprefix("/v1beta/")], {}
        if method == "DELETE" and path.startswith("/v1beta/files/"):
            del self.files[path.removeprefix("/v1beta/")]
            return 200, {}, {}
        return 404, {"error": {"message": f"no {method} {path}"}}, {}

    def uploads(self) -> int:
        return sum(
            1 for method, path, _ in self.requests if method == "POST" and path == "/upload/v1beta/files"
        )


@pytest.fixture
def files_api() -> Iterator[FakeFilesApi]:
    api = FakeFilesApi()
    thread = threading.Thread(target=api.server.serve_forever, daemon=True)
    thread.start()
    yield api
    api.server.shutdown()
    api.server.server_close()


def _gemini_video_prompt(i: int, media: str) -> dict[str, Any]:
    parts = [{"type": "video", "media": media, "mime_type": "video/mp4"}, f"describe {i}"]
    return {
        "id": i,
        "api": "gemini",
        "model_name": "gemini-1.5-flash",
        "prompt": [{"role": "user", "parts": parts}],
    }


def test_upload_media_uploads_each_file_once_and_names_it_in_the_prompts(
    tmp_path: Path, files_api: FakeFilesApi
) -> None:
    media = tmp_path / "data" / "media"
    media.mkdir(parents=True)
    (media / "a.mp4").write_bytes(b"\x00video a" * 1000)
    (media / "b.mp4").write_bytes(b"\x00video b")
    rows = [_gemini_video_prompt(i, "a.mp4" if i % 2 else "b.mp4") for i in range(50)]
    rows.append(
        {
            "id": "openai",
            "api": "openai",
            "model_name": "gpt-4o",
            "prompt": [{"role": "user", "content": [{"type": "image", "media": "b.mp4"}]}],
        }
    )
    write_jsonl(tmp_path / "exp.jsonl", rows)
    env = {**os.environ, "GEMINI_BASE_URL": files_api.base_url}
    env.pop("GEMINI_API_KEY", None)
    (tmp_path / ".env").write_text(f"GEMINI_API_KEY={KEY}\n")

    result = run_installed(
        "prompto_upload_media", "upload", "-f", "exp.jsonl", "-m", "data/media", cwd=tmp_path, env=env
    )

    assert result.returncode == 0, result.stderr
    assert files_api.uploads() == 2
    uploaded = read_jsonl(tmp_path / "exp_uploaded.jsonl")
    part = uploaded[1]["prompt"][0]["parts"][0]
    name = part["uploaded_filename"]
    assert files_api.files[name]["displayName"] == "a.mp4"
    assert part["uploaded_uri"] == f"https://generativelanguage.googleapis.com/v1beta/{name}"
    assert "uploaded_filename" not in uploaded[-1]["prompt"][0]["content"][0]  # not Gemini: left as it was
    start = next(headers for method, path, headers in files_api.requests if path == "/upload/v1beta/files")
    assert start["x-goog-upload-header-content-type"] == "video/mp4"
    # sent by URI: the local file is not read, so it may be gone
    (media / "a.mp4").unlink()
    conversation = parse_prompt(uploaded[1]["prompt"], media)
    content = conversation.messages[0].content
    assert not isinstance(content, str)
    video = content[0]
    assert isinstance(video, MediaPart)
    assert (video.url, video.resolved_mime_type) == (part["uploaded_uri"], "video/mp4")

    # the same files again: found by their SHA-256, not uploaded again; the output is not overwritten
    (media / "a.mp4").write_bytes(b"\x00video a" * 1000)
    refused = run_installed(
        "prompto_upload_media", "upload", "-f", "exp.jsonl", "-m", "data/media", cwd=tmp_path, env=env
    )
    assert refused.returncode == 2
    assert "--overwrite-output" in refused.stderr
    again = run_installed(
        "prompto_upload_media", "upload", "-f", "exp.jsonl", "-d", "data", "-w", cwd=tmp_path, env=env
    )
    assert again.returncode == 0, again.stderr
    assert files_api.uploads() == 2
    assert read_jsonl(tmp_path / "exp_uploaded.jsonl") == uploaded

    listed = run_installed("prompto_upload_media", "list", cwd=tmp_path, env=env)
    assert listed.returncode == 0, listed.stderr
    assert listed.stdout.count("File Name: files/") == 2
    assert hashlib.sha256((media / "a.mp4").read_bytes()).hexdigest() in listed.stdout
    deleted = run_installed("prompto_upload_media", "delete", "--confirm-delete-all", cwd=tmp_path, env=env)
    assert deleted.returncode == 0, deleted.stderr
    assert files_api.files == {}


def test_upload_media_without_a_key_says_so(tmp_path: Path) -> None:
    write_jsonl(tmp_path / "exp.jsonl", [_gemini_video_prompt(0, "a.mp4")])
    env = {key: value for key, value in os.environ.items() if key != "GEMINI_API_KEY"}

    result = run_installed(
        "prompto_upload_media", "upload", "-f", "exp.jsonl", "-m", ".", cwd=tmp_path, env=env
    )

    assert result.returncode == 2
    assert "GEMINI_API_KEY is not set" in result.stderr


def test_a_file_still_processing_is_waited_for() -> None:
    states = iter(["PROCESSING", "ACTIVE"])
    slept: list[float] = []

    class Client(GeminiFiles):
        def get(self, name: str) -> RemoteFile:
            return RemoteFile(name, "uri", "video/mp4", next(states), None)

    client = Client(KEY, "http://127.0.0.1:9", poll_interval_s=2.0, sleep=slept.append)
    remote = client.wait_until_active(RemoteFile("files/x", "uri", "video/mp4", "PROCESSING", None))
    client.close()

    assert remote.state == "ACTIVE"
    assert slept == [2.0, 2.0]


# --- prompto_convert_images ------------------------------------------------------------------------


def test_convert_images_resaves_jpeg_and_png_as_rgb(tmp_path: Path) -> None:
    image_module = pytest.importorskip("PIL.Image")
    image_module.new("RGBA", (4, 4), (255, 0, 0, 128)).save(tmp_path / "a.png")
    image_module.new("CMYK", (4, 4)).save(tmp_path / "b.JPG", "JPEG")
    (tmp_path / "notes.txt").write_text("not an image")

    result = run_installed("prompto_convert_images", "--folder", ".", cwd=tmp_path)

    assert result.returncode == 0, result.stderr
    with image_module.open(tmp_path / "a.png") as png, image_module.open(tmp_path / "b.JPG") as jpg:
        assert (png.mode, png.format, jpg.mode, jpg.format) == ("RGB", "PNG", "RGB", "JPEG")
    assert "Skipping" in result.stdout
    assert "notes.txt" in result.stdout
    assert (tmp_path / "notes.txt").read_text() == "not an image"


def test_convert_images_without_pillow_names_the_extra(tmp_path: Path) -> None:
    code = (
        "import sys; sys.modules['PIL'] = None\n"
        "from runner.cli._prompto_tools import convert_images_main\n"
        "sys.exit(convert_images_main(['-f', '.']))"
    )
    result = subprocess.run(
        [sys.executable, "-c", code], cwd=tmp_path, capture_output=True, text=True, check=False,
        env={**os.environ, "PYTHONPATH": str(REPO_ROOT)},
    )  # fmt: skip

    assert result.returncode == 2
    assert "prompto-run[images]" in result.stderr


# --- prompto-score / prompto-judge on a prompto-made completed file --------------------------------


def test_prompto_score_reads_a_completed_file_prompto_made(tmp_path: Path) -> None:
    folder = tmp_path / "data" / "output" / "exp"
    folder.mkdir(parents=True)
    completed = write_jsonl(folder / "2024-01-01T00-00-00-completed-exp.jsonl", _completed_rows(N_LINES))

    result = run_installed(
        "prompto-score", str(completed.relative_to(tmp_path)), "scorers=[match]", cwd=tmp_path
    )

    assert result.returncode == 0, result.stderr
    [scored] = (folder / "2024-01-01T00-00-00-completed-exp.prompto-run").glob("completed-scored-*.jsonl")
    records = read_jsonl(scored)
    assert len(records) == N_LINES
    assert records[1]["scores"] == {"match": True}
    assert "scores" not in records[0]  # prompto's error text is an error: not scored
    assert records[0]["error"]["message"].startswith("An unexpected error occurred")
    assert sorted(p.name for p in folder.glob("*-completed-*.jsonl")) == [completed.name]  # prompto's glob


def test_prompto_judge_reads_a_completed_file_prompto_made(tmp_path: Path) -> None:
    completed = write_jsonl(tmp_path / "completed-exp.jsonl", _completed_rows(20))
    judges = "judges=[{name: j, models: [{api: simulated, model_name: s}], template: '{response}', "
    judges += "parse: {as_text: true}}]"

    result = run_installed("prompto-judge", completed.name, judges, "max_queries=60000", cwd=tmp_path)

    assert result.returncode == 0, result.stderr
    [judged] = (tmp_path / "completed-exp.prompto-run").glob("completed-judged-*.jsonl")
    records = {record["id"]: record for record in read_jsonl(judged)}
    assert len(records) == 20
    assert "judgements" in records[1]
    assert "judgements" not in records[0]

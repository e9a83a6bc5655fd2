"""Media files stay inside ``data/media/``: a path or link leading out is refused before anything is
sent, and again on the way out."""

from __future__ import annotations

import base64
import json
from collections.abc import Iterator
from pathlib import Path
from typing import Any, ClassVar

import pytest
import trio
import trio.testing

import providers
from providers import (
    ChatRequest,
    Completion,
    EndpointSettings,
    Provider,
    ProviderContext,
    Usage,
    provider_class,
)
from providers._types import MediaFileRefused, MediaKind, MediaPart
from runner import RunConfig, run_experiment
from runner.prompts._conversation import parse_prompt
from tests.conftest import read_jsonl, write_jsonl
from tests.fakes import FakeServer
from tests.inputs.installed import (
    SIZE,
    assert_refused,
    command,
    completed_records,
    vision_model,
    write_lines,
)


def image_prompt(prompt_id: str, part: dict[str, Any]) -> str:
    return json.dumps({"id": prompt_id, "prompt": [{"role": "user", "content": ["what is this?", part]}]})


@pytest.mark.slow
def test_a_media_path_leading_out_of_media_is_refused_and_nothing_is_sent(
    project: Path, vision_server: FakeServer
) -> None:
    secret = project / "secret.env"
    secret.write_text("OPENAI_API_KEY=sk-never-sent\n")
    media = project / "data" / "media"
    (media / "cat.png").write_bytes(b"\x89PNG cat")
    (media / "escape.png").symlink_to(secret)
    (media / "sub").mkdir()
    (media / "sub" / "up").symlink_to(project)  # a link to a folder outside, then a path through it
    lines = [image_prompt(f"ok{i}", {"type": "image", "media": "cat.png"}) for i in range(SIZE)]
    hostile = {
        10: (
            {"type": "image", "media": "../../secret.env"},
            "'../../secret.env', which is outside data/media/",
        ),
        20: ({"type": "image_url", "image_url": str(secret)}, f"'{secret}', which is outside data/media/"),
        30: ({"type": "image", "media": "escape.png"}, "'escape.png', which is outside data/media/"),
        40: (
            {"type": "image", "source": {"media": "sub/up/secret.env"}},
            "'sub/up/secret.env', which is outside",
        ),
        50: ({"type": "image", "url": f"file://{secret}"}, f"'{secret}', which is outside data/media/"),
    }
    for index, (part, _) in hostile.items():
        lines[index] = image_prompt(f"bad{index}", part)
    ollama_style = json.dumps(
        {"id": "o", "prompt": [{"role": "user", "content": "hi", "images": ["../../secret.env"]}]}
    )
    lines[60] = ollama_style
    write_lines(project, "media.jsonl", lines)
    args = ["experiment.file=media.jsonl", *vision_model(vision_server)]

    run = command("prompto-run", *args, cwd=project)
    check = command("prompto-check", *args, cwd=project)

    problems = [
        f"line {index + 1}: prompt[0] names media file {message}" for index, (_, message) in hostile.items()
    ]
    for result in (run, check):
        assert_refused(
            result, "6 problem(s)", *problems, "line 61: prompt[0] names media file '../../secret.env'"
        )
    assert vision_server.requests == []
    assert completed_records(project) == []


@pytest.mark.slow
def test_media_inside_media_is_still_sent_inline(project: Path, vision_server: FakeServer) -> None:
    media = project / "data" / "media"
    (media / "albums" / "2024").mkdir(parents=True)
    (media / "albums" / "2024" / "cat.png").write_bytes(b"\x89PNG cat")
    (media / "latest.png").symlink_to(media / "albums" / "2024" / "cat.png")  # a link that stays inside
    write_lines(
        project,
        "ok.jsonl",
        [
            image_prompt("a", {"type": "image", "media": "albums/2024/../2024/cat.png"}),
            image_prompt("b", {"type": "image", "media": "latest.png"}),
        ],
    )

    run = command("prompto-run", "experiment.file=ok.jsonl", *vision_model(vision_server), cwd=project)

    assert run.returncode == 0, run.stderr
    inline = "data:image/png;base64," + base64.b64encode(b"\x89PNG cat").decode()
    sent = [
        request.json["messages"][0]["content"][1]["image_url"]["url"] for request in vision_server.requests
    ]
    assert sent == [inline, inline]


async def test_a_media_file_swapped_for_a_link_after_validation_is_not_sent(
    tmp_path: Path, vision_server: FakeServer
) -> None:
    media = tmp_path / "media"
    media.mkdir()
    secret = tmp_path / "secret.env"
    secret.write_text("OPENAI_API_KEY=sk-never-sent\n")
    (media / "cat.png").write_bytes(b"\x89PNG cat")
    conversation = parse_prompt([{"role": "user", "content": [{"type": "image", "media": "cat.png"}]}], media)
    request = conversation.first_request("m", {})
    (media / "cat.png").unlink()
    (media / "cat.png").symlink_to(secret)  # between validation and sending
    provider = provider_class("openai-compatible")(
        ProviderContext("m", EndpointSettings(base_url=vision_server.url("/v1")), {})
    )

    try:
        with pytest.raises(MediaFileRefused, match="media file '.*cat.png' is outside .*media/"):
            await provider.complete(request)
    finally:
        await provider.aclose()

    assert vision_server.requests == []
    assert MediaFileRefused.error_type == "bad_request"  # recorded as a failure, never retried
    assert not MediaFileRefused.retryable


def test_a_media_part_is_checked_whoever_builds_it(tmp_path: Path) -> None:
    media = tmp_path / "media"
    media.mkdir()
    (tmp_path / "outside.png").write_bytes(b"\x89PNG")
    (media / "loop.png").symlink_to(media / "loop.png")

    with pytest.raises(MediaFileRefused, match="media file '../outside.png' is outside"):
        MediaPart.in_folder("image", media, "../outside.png").check()
    with pytest.raises(MediaFileRefused, match="media file 'loop.png' cannot be resolved"):
        MediaPart.in_folder("image", media, "loop.png").check()
    with pytest.raises(MediaFileRefused, match="cannot be resolved"):
        MediaPart.in_folder("image", media, "nul\0.png").check()


class MediaReader(Provider):
    """``api: mediareader``: reads each media file as a provider sending it inline does."""

    api: ClassVar[str] = "mediareader"
    media_kinds: ClassVar[frozenset[MediaKind]] = frozenset({"image"})
    sent: ClassVar[list[bytes]] = []

    async def complete(self, request: ChatRequest) -> Completion:
        for part in request.media:
            type(self).sent.append(base64.b64decode(await part.read_base64()))
        return Completion("seen", "stop", Usage(1, 1), self.model_name)


@pytest.fixture
def media_reader() -> Iterator[list[bytes]]:
    MediaReader.sent = []
    providers.register(MediaReader)
    try:
        yield MediaReader.sent
    finally:
        providers.unregister(MediaReader.api)


async def test_a_file_swapped_for_a_link_mid_run_fails_its_own_prompt_and_the_run_goes_on(
    tmp_path: Path, media_reader: list[bytes], autojump_clock: trio.testing.MockClock
) -> None:
    media = tmp_path / "data" / "media"
    media.mkdir(parents=True)
    (media / "cat.png").write_bytes(b"\x89PNG cat")
    (media / "late.png").write_bytes(b"\x89PNG late")
    secret = tmp_path / "secret.env"
    secret.write_text("OPENAI_API_KEY=sk-never-sent\n")
    count = 1_000  # at 600 a minute the queue resolves the last prompts long after it starts
    rows = [
        {"id": i, "prompt": [{"role": "user", "content": [{"type": "image", "media": "cat.png"}]}]}
        for i in range(count)
    ]
    rows[-1]["prompt"][0]["content"][0]["media"] = "late.png"
    config = RunConfig.model_validate(
        {
            "experiment": {"file": str(tmp_path / "p.jsonl"), "api": "mediareader", "model_name": "m"},
            "data_folder": str(tmp_path / "data"),
            "output_dir": str(tmp_path / "run"),
            "env_file": None,
            "max_queries": 600,
            "progress": {"mode": "off"},
            "report": {"auto": False},
        }
    )
    write_jsonl(tmp_path / "p.jsonl", rows)

    async def swap_once_validated() -> None:
        while not (tmp_path / "run" / "prompts.jsonl").exists():  # noqa: ASYNC110
            await trio.sleep(0.1)
        (media / "late.png").unlink()
        (media / "late.png").symlink_to(secret)

    async with trio.open_nursery() as nursery:
        nursery.start_soon(swap_once_validated)
        result = await run_experiment(config, {}, log_to_file=False)

    records = {record["id"]: record for record in read_jsonl(result.completed_file)}
    assert result.summary["status"] == "complete"
    assert len(records) == count
    assert records[count - 1]["error"]["type"] == "bad_request"
    assert "media file 'late.png' is outside" in records[count - 1]["error"]["message"]
    assert records[count - 1]["attempts"] == 1  # never retried
    assert all(records[i]["error"] is None for i in range(count - 1))
    assert b"sk-never-sent" not in b"".join(media_reader)
    assert len(media_reader) == count - 1

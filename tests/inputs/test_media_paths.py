"""Media files stay inside ``data/media/``: a path or link leading out is refused before anything is
sent, and again on the way out."""

from __future__ import annotations

import base64
import json
from pathlib import Path
from typing import Any

import pytest

from providers import EndpointSettings, ProviderContext, provider_class
from providers._types import MediaFileRefused, MediaPart
from runner._prompts import parse_prompt
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
    (tmp_path / "media").mkdir()
    (tmp_path / "outside.png").write_bytes(b"\x89PNG")
    (tmp_path / "loop.png").symlink_to(tmp_path / "loop.png")

    with pytest.raises(MediaFileRefused, match="media file '../outside.png' is outside"):
        MediaPart.in_folder("image", tmp_path / "media", "../outside.png")
    with pytest.raises(MediaFileRefused, match="cannot be resolved"):
        MediaPart.in_folder("image", tmp_path, "loop.png")
    with pytest.raises(MediaFileRefused, match="cannot be resolved"):
        MediaPart.in_folder("image", tmp_path / "media", "nul\0.png")

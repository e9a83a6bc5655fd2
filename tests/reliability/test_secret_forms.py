"""Every form of a key stays out of everything a run writes: a key with a trailing newline, a key a
server echoes URL-encoded, a long key that an error excerpt cuts in two.

End to end against the fake chat server on 127.0.0.1, through the real ``openai`` provider (pointed at
the server by ``OPENAI_BASE_URL``, as a user would) and through a user's own provider that has no
configuration checks (``fakechat``): the run folder, the log and the error text must hold no form of
the key.
"""

from __future__ import annotations

import json
import logging
from pathlib import Path
from urllib.parse import quote, quote_plus

import pytest

from providers import BadRequest, EndpointSettings
from providers._errors import excerpt
from providers._secrets import redact, secrets_in_scope
from providers.http._pool import ClientPool
from runner import ValidationFailed, run_async
from tests.conftest import run_cli
from tests.fakes import FakeServer
from tests.reliability.conftest import make_config, read_records
from tests.reliability.fake_server import FakeChatServer, error_reply, serving
from tests.reliability.http_provider import KEY_ENV

NEWLINE_KEY = "sk-test-4f9c2b7e1d0a\n"
LONG_KEY = "sk-proj-" + "".join(f"{i:02x}" for i in range(78))  # 164 characters, as in the issue
ENCODABLE_KEY = "sk-test+4f9c/2b7e=1d0a"  # base64-style characters: its URL-encoded forms differ


def forms(secret: str) -> set[str]:
    """Every way a key is written into a text, as a test independent of the code under test sees it."""
    return {
        secret,
        secret.strip(),
        repr(secret)[1:-1],
        json.dumps(secret)[1:-1],
        quote(secret, safe=""),
        quote_plus(secret),
    }


def leaks(run_dir: Path, secret: str, *texts: str, fragment: int | None = None) -> list[str]:
    """Files of the run (and ``texts``) holding a form of ``secret`` (or the first ``fragment`` of one)."""
    needles = {form[:fragment] if fragment else form for form in forms(secret)}
    found = [
        path.name
        for path in sorted(run_dir.rglob("*"))
        if path.is_file()
        for needle in needles
        if needle.encode() in path.read_bytes()
    ]
    return found + [f"text {i}" for i, text in enumerate(texts) for needle in needles if needle in text]


def test_redact_scrubs_every_form_of_a_secret() -> None:
    secret = "sk-test+4f9c/2b7e=1d0a\n"
    text = (
        " | ".join(sorted(forms(secret))) + f" | h11: Illegal header value {('Bearer ' + secret).encode()!r}"
    )

    scrubbed = redact(text, [secret])

    assert [form for form in forms(secret) if form in scrubbed] == []
    assert scrubbed.endswith("h11: Illegal header value b'Bearer ***'")


def test_a_cut_off_prefix_of_a_secret_is_the_secret() -> None:
    assert redact(f"echoed {LONG_KEY[:123]}…' and more", [LONG_KEY]) == "echoed ***…' and more"
    assert redact(f"server cut it: {LONG_KEY[:40]}... done", [LONG_KEY]) == "server cut it: ***... done"
    assert redact(f"the text ends in {LONG_KEY[:9]}", [LONG_KEY]) == "the text ends in ***"
    # a prefix with more text after it is an ordinary word, not a cut key
    assert redact("sk-proj-roadmap is a page name", [LONG_KEY]) == "sk-proj-roadmap is a page name"


def test_an_excerpt_is_scrubbed_before_it_is_cut() -> None:
    body = json.dumps({"error": {"message": f"{'x' * 100} Incorrect API key provided: {LONG_KEY}"}})
    assert LONG_KEY[:40] in excerpt(body)  # outside a provider call: cut through the key

    with secrets_in_scope([LONG_KEY]):
        cut = excerpt(body)

    assert cut.endswith('Incorrect API key provided: ***"}}')


async def test_a_key_with_a_trailing_newline_is_refused_before_anything_is_sent(tmp_path: Path) -> None:
    with serving(FakeChatServer()) as server:
        config = make_config(
            tmp_path,
            server.url,
            [{"id": "1", "api": "openai", "model_name": "gpt-4o-mini", "prompt": "hi"}],
            endpoints={},
        )
        with pytest.raises(ValidationFailed) as refused:
            await run_async(config, environ={"OPENAI_API_KEY": NEWLINE_KEY, "OPENAI_BASE_URL": server.url})

        assert server.requests == []
    message = str(refused.value)
    assert "the key in OPENAI_API_KEY has leading or trailing whitespace" in message
    assert leaks(tmp_path / "run", NEWLINE_KEY, message) == []


def test_prompto_run_refuses_a_key_read_with_its_newline_naming_the_variable(tmp_path: Path) -> None:
    with serving(FakeChatServer()) as server:
        (tmp_path / ".env").write_text(
            f'OPENAI_API_KEY_gpt_4o_mini="{NEWLINE_KEY.strip()}\\n"\nOPENAI_BASE_URL={server.url}\n'
        )
        prompts = tmp_path / "data" / "input" / "p.jsonl"
        prompts.parent.mkdir(parents=True)
        prompts.write_text('{"id": "1", "api": "openai", "model_name": "gpt-4o-mini", "prompt": "hi"}\n')

        result = run_cli("experiment.file=p.jsonl", f"data_folder={tmp_path / 'data'}", cwd=tmp_path)

        assert server.requests == []
    assert result.returncode == 2
    assert "the key in OPENAI_API_KEY_gpt_4o_mini has leading or trailing whitespace" in result.stderr
    assert leaks(tmp_path / "outputs", NEWLINE_KEY, result.stdout, result.stderr) == []


@pytest.mark.parametrize("lean", [True, False], ids=["lean transport", "httpx transport"])
async def test_http_refusing_a_header_is_a_bad_request_that_names_the_header_not_its_value(
    lean: bool,
) -> None:
    with FakeServer() as server:
        pool = ClientPool(server.base_url, headers={"Authorization": f"Bearer {NEWLINE_KEY}"}, lean=lean)
        with pytest.raises(BadRequest) as refused:
            await pool.post("v1/chat/completions", json_body={})
        await pool.aclose()

        assert server.requests == []
    assert str(refused.value) == (
        "request not sent: the value of header 'Authorization' is not valid in HTTP "
        "(leading or trailing whitespace, or a control character such as a newline)"
    )
    assert refused.value.__suppress_context__  # h11's message, which quotes the value, is dropped


async def test_a_newline_key_in_a_provider_without_checks_is_refused_by_http_never_quoted(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    with serving(FakeChatServer()) as server:
        config = make_config(tmp_path, server.url, [{"id": "1", "prompt": "hi"}])
        caplog.set_level(logging.INFO)

        result = await run_async(config, environ={KEY_ENV: NEWLINE_KEY})

        assert server.requests == []
    error = read_records(result.run_dir)["1"]["error"]
    assert error["type"] == "bad_request"
    assert "the value of header 'authorization' is not valid in HTTP" in error["message"]
    assert leaks(result.run_dir, NEWLINE_KEY, caplog.text) == []


async def test_a_long_key_echoed_by_the_server_is_scrubbed_whole_however_the_excerpt_cuts_it(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    echo = error_reply(400, f"{'Request refused. ' * 5}Incorrect API key provided: {LONG_KEY}.")
    with serving(FakeChatServer()) as server:
        server.script("through openai", echo)
        server.script("through fakechat", echo)
        config = make_config(
            tmp_path,
            server.url,
            [
                {"id": "openai", "api": "openai", "model_name": "m", "prompt": "through openai"},
                {"id": "fakechat", "api": "fakechat", "model_name": "m", "prompt": "through fakechat"},
            ],
            endpoints={
                api: EndpointSettings(base_url=server.url, api_key_env=KEY_ENV)
                for api in ("openai", "fakechat")
            },
        )
        caplog.set_level(logging.INFO)

        result = await run_async(config, environ={KEY_ENV: LONG_KEY})

    records = read_records(result.run_dir)
    for prompt_id in ("openai", "fakechat"):
        assert records[prompt_id]["error"]["type"] == "bad_request"
        assert "Incorrect API key provided: ***" in records[prompt_id]["error"]["message"]
    assert leaks(result.run_dir, LONG_KEY, caplog.text, fragment=8) == []


async def test_a_key_echoed_url_encoded_is_scrubbed(tmp_path: Path, caplog: pytest.LogCaptureFixture) -> None:
    with serving(FakeChatServer()) as server:
        server.script("hi", error_reply(400, f"no such key: /v1/keys?value={quote_plus(ENCODABLE_KEY)}"))
        config = make_config(tmp_path, server.url, [{"id": "1", "prompt": "hi"}])
        caplog.set_level(logging.INFO)

        result = await run_async(config, environ={KEY_ENV: ENCODABLE_KEY})

        assert server.requests[0].authorization == f"Bearer {ENCODABLE_KEY}"
    assert "/v1/keys?value=***" in read_records(result.run_dir)["1"]["error"]["message"]
    assert leaks(result.run_dir, ENCODABLE_KEY, caplog.text) == []

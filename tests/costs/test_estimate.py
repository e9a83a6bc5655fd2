"""The estimate before a run: per queue and in total, judges and rephrasings included, and in
``prompto-check`` from a user's folder."""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any

import pytest

from runner._check import check_experiment
from runner._validate import validate_experiment
from runner.config._config import RunConfig
from runner.costs import CostEstimate, Estimator, PriceBook
from tests.conftest import run_installed, write_jsonl
from tests.costs.conftest import make_config

OLLAMA = {"OLLAMA_API_ENDPOINT": "http://127.0.0.1:9"}
PRICE = {"input_per_mtok": 1.0, "output_per_mtok": 2.0}
TEXT = "x" * 400  # 100 tokens estimated, plus 4 for the message
JUDGE = {
    "name": "grader",
    "models": [{"api": "ollama", "model_name": "judge", "parameters": {"num_predict": 5}}],
    "template": "Question: {prompt}\nAnswer: {response}\nVerdict?",
}
JUDGE_LITERAL = len("Question: \nAnswer: \nVerdict?")


def _estimate(
    workspace: Path, rows: list[dict[str, Any]], environ: dict[str, str], **fields: Any
) -> Estimator:
    write_jsonl(workspace / "data" / "input" / "prompts.jsonl", rows)
    validation = validate_experiment(make_config(**fields), environ)
    assert validation.runnable, validation.plan.problems
    assert validation.estimate is not None
    return validation.estimate


def _ollama(count: int, **parameters: Any) -> list[dict[str, Any]]:
    return [
        {
            "id": i,
            "prompt": TEXT,
            "api": "ollama",
            "model_name": "llama3",
            "parameters": {"num_predict": 50, **parameters},
        }
        for i in range(count)
    ]


def test_a_declared_price_by_hand(workspace: Path) -> None:
    estimate = _estimate(workspace, _ollama(10), OLLAMA, prices={"ollama/llama3": PRICE})
    total = estimate.total()
    assert total == CostEstimate(
        requests=10,
        input_tokens=10 * 104,
        expected_output_tokens=10 * 50,
        worst_output_tokens=10 * 50,
        expected_usd=pytest.approx(10 * (104 * 1.0 + 50 * 2.0) / 1e6),  # type: ignore[arg-type]
        worst_usd=pytest.approx(10 * (104 * 1.0 + 50 * 2.0) / 1e6),  # type: ignore[arg-type]
        exact_tokens=False,
    )
    assert list(estimate.by_queue()) == ["default"]
    assert estimate.as_dict()["total"]["requests"] == 10


def test_judges_are_one_request_per_judged_prompt_and_judge_model(workspace: Path) -> None:
    judge = {**JUDGE, "models": [*JUDGE["models"], {"api": "ollama", "model_name": "judge-2"}]}  # type: ignore[list-item]
    prices = {"ollama/llama3": PRICE, "ollama/judge": {"input_per_mtok": 10.0, "output_per_mtok": 20.0}}
    estimate = _estimate(workspace, _ollama(6), OLLAMA, prices=prices, judges=[judge])
    queues = estimate.by_queue()
    assert list(queues) == ["default", "judge:grader/judge", "judge:grader/judge-2"]
    judged = queues["judge:grader/judge"]
    # the template filled with the prompt, plus a response of the expected length (50), plus 4
    judge_input = (JUDGE_LITERAL + 400) // 4 + 4 + 50
    assert (judged.requests, judged.input_tokens) == (6, 6 * judge_input)
    assert (judged.expected_output_tokens, judged.worst_output_tokens) == (6 * 5, 6 * 5)
    assert judged.expected_usd == pytest.approx(6 * (judge_input * 10.0 + 5 * 20.0) / 1e6)
    assert queues["judge:grader/judge-2"].expected_usd == 0.0  # self-hosted, no price declared: free
    assert estimate.total().requests == 18


def test_rephrasings_add_the_rephrasers_requests_and_the_variants(workspace: Path) -> None:
    rephrase = {
        "name": "para",
        "model": {"api": "ollama", "model_name": "rephraser"},
        "templates": ["Rewrite {n} ways: {prompt}", "Say it otherwise: {prompt}"],
        "n": 2,
        "parse": "single",
    }
    estimate = _estimate(workspace, _ollama(5), OLLAMA, rephrase=rephrase, judges=[JUDGE])
    queues = estimate.by_queue()
    # the original and 2 rephrasings per template: 5 variants of each prompt, each sent and judged
    assert queues["default"].requests == 5 * 5
    assert queues["judge:grader/judge"].requests == 5 * 5
    # parse single: n requests per template, each replying with one rephrasing about the prompt's length
    rephrased = queues["rephrase:para/rephraser"]
    assert rephrased.requests == 5 * 2 * 2
    assert rephrased.expected_output_tokens == 5 * 2 * 2 * 100


def test_batch_queues_are_priced_at_the_batch_rate(workspace: Path) -> None:
    rows = [{"id": i, "prompt": TEXT, "api": "openai", "model_name": "gpt-4o-mini"} for i in range(20)]
    environ = {"OPENAI_API_KEY": "k"}
    live = _estimate(workspace, rows, environ).total()
    batched = _estimate(workspace, rows, environ, batch={"enabled": True}).total()
    assert live.expected_usd > 0
    assert batched.expected_usd == pytest.approx(live.expected_usd / 2)
    assert batched.worst_usd == pytest.approx(live.worst_usd / 2)
    # a list of user turns is never batched: it is sent live, at the full price
    turns = [{"id": "t", "prompt": ["hello", "and then?"], "api": "openai", "model_name": "gpt-4o-mini"}]
    both = _estimate(workspace, rows + turns, environ, batch={"enabled": True}).total()
    assert both.requests == 22
    assert both.expected_usd > batched.expected_usd


def test_tiered_prices_are_summed_per_tier(workspace: Path) -> None:
    """gemini-2.5-pro's price doubles for prompts over 200k tokens: a long prompt and short ones."""
    rows = [{"id": "long", "prompt": "y" * 900_000, "api": "gemini", "model_name": "gemini-2.5-pro"}]
    rows += [{"id": i, "prompt": TEXT, "api": "gemini", "model_name": "gemini-2.5-pro"} for i in range(3)]
    config = make_config()
    book = PriceBook(config)
    assert book.tier_starts("gemini", "gemini-2.5-pro") == (200_000,)
    estimate = _estimate(workspace, rows, {"GEMINI_API_KEY": "k"})
    one_by_one = [
        book.worst_case_usd("gemini", "gemini-2.5-pro", 225_004, 256),
        *3 * [book.worst_case_usd("gemini", "gemini-2.5-pro", 104, 256)],
    ]
    assert estimate.total().expected_usd == pytest.approx(sum(one_by_one))  # type: ignore[arg-type]


def test_unpriced_models_are_counted_and_named(workspace: Path) -> None:
    rows = [
        {"id": f"c{i}", "prompt": TEXT, "api": "openai-compatible", "model_name": "my-model"}
        for i in range(4)
    ]
    rows += _ollama(2)
    estimate = _estimate(
        workspace, rows, OLLAMA, parallel=True, endpoints={"openai-compatible": {"base_url": "http://x/v1"}}
    )
    total = estimate.total()
    assert (total.requests, total.unpriced_requests, total.expected_usd) == (6, 4, 0.0)
    assert estimate.unpriced() == ["openai-compatible/my-model"]
    assert estimate.notes()[0] == (
        "no price for openai-compatible/my-model: declare one with prices: or the model config's price:"
    )


def test_a_plan_with_problems_has_no_estimate(workspace: Path) -> None:
    write_jsonl(workspace / "data" / "input" / "prompts.jsonl", [{"id": 1, "prompt": "x", "api": "nosuch"}])
    assert validate_experiment(make_config(), {}).estimate is None


def _user_project(tmp_path: Path, count: int) -> None:
    (tmp_path / "data" / "input").mkdir(parents=True)
    (tmp_path / "conf" / "judge").mkdir(parents=True)
    (tmp_path / "conf" / "judge" / "grader.yaml").write_text(
        "models:\n"
        "  - {api: openai, model_name: gpt-4o-mini, parameters: {max_tokens: 10}}\n"
        "template: |\n"
        "  Question: {prompt}\n"
        "  Answer: {response}\n"
        "  Reply yes or no.\n"
    )
    rows = [
        {
            "id": i,
            "prompt": f"Question {i}: what is {i} + {i}? Answer with the number only." + " Please." * (i % 7),
            "api": "openai",
            "model_name": "gpt-4o-mini",
            "parameters": {"max_tokens": 200},
        }
        for i in range(count)
    ]
    rows += [
        {"id": f"m{i}", "prompt": "Hi", "api": "openai-compatible", "model_name": "my-model"}
        for i in range(5)
    ]
    write_jsonl(tmp_path / "data" / "input" / "exp.jsonl", rows)


ARGS = (
    "experiment.file=exp.jsonl",
    "judges=[grader]",
    "parallel=true",
    "+endpoints.openai-compatible.base_url=http://127.0.0.1:9/v1",
)


@pytest.mark.slow
def test_prompto_check_shows_the_estimate_of_3000_prompts_from_a_users_folder(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    _user_project(tmp_path, 3_000)
    # tiktoken cannot fetch its encodings here (as offline): the counts are estimates, and say so
    env = {
        "PATH": os.environ.get("PATH", "/usr/bin"),
        "HOME": str(tmp_path),
        "OPENAI_API_KEY": "sk-test",
        "TIKTOKEN_CACHE_DIR": str(tmp_path / "no-cache"),
        "HTTPS_PROXY": "http://127.0.0.1:9",
        "https_proxy": "http://127.0.0.1:9",
    }
    done = run_installed("prompto-check", *ARGS, cwd=tmp_path, env=env, timeout=120)
    assert done.returncode == 0, done.stdout + done.stderr
    lines = done.stdout.splitlines()
    start = lines.index("estimated cost (before the run: an estimate, not a bill)")
    rows = {line.split()[0]: line for line in lines[start + 2 : start + 6]}
    assert list(rows) == ["openai", "openai-compatible", "judge:grader/gpt-4o-mini", "total"]
    assert rows["openai"].split()[1] == "3,000"
    assert rows["judge:grader/gpt-4o-mini"].split()[1] == "3,005"  # every answered prompt is judged
    assert rows["total"].split()[1] == "6,010"
    assert rows["openai"].split()[2].startswith("~")

    # the same numbers as the estimate made in this process, from the same folder and config
    monkeypatch.chdir(tmp_path)
    from runner import load_config

    config: RunConfig = load_config(None, [*ARGS, "env_file=null"], output_dir=tmp_path / "out")
    report = check_experiment(config, {"OPENAI_API_KEY": "sk-test"})
    assert report.estimate is not None
    total = report.estimate.total()
    assert total.requests == 6_010
    assert total.unpriced_requests == 5
    assert f"${total.expected_usd:,.2f} (up to ${total.worst_usd:,.2f})" in rows["total"]
    assert "+ 5 request(s) with no price" in rows["total"]
    assert rows["openai-compatible"].split()[-2:] == ["no", "price"]
    notes = lines[start + 6 :]
    assert (
        notes[0]
        == "  no price for openai-compatible/my-model: declare one with prices: or the model config's price:"
    )
    assert any("OpenAI input tokens are estimated" in note for note in notes)
    assert notes[-1].startswith("  prices: genai-prices 0.2.3, price data with changes up to 20")
    assert "no price for" not in done.stderr  # said once, in the report

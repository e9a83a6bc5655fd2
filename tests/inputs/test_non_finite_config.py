"""``inf`` and ``nan`` anywhere in the settings: refused naming the key, exit 2, nothing sent (not
found later by the engine, or by an API: ``Infinity`` is not JSON)."""

from __future__ import annotations

from pathlib import Path

import pytest

from tests.inputs.installed import assert_refused, command, completed_records, many, write_lines


@pytest.mark.parametrize(
    ("override", "key"),
    [
        ("max_queries=inf", "`max_queries`: Input should be a finite number"),
        ("request_timeout_s=nan", "`request_timeout_s`: Input should be a finite number"),
        (
            "+rate_limits.apis.simulated=inf",
            "`rate_limits.apis.simulated.max_queries`: Input should be a finite",
        ),
        ("+experiment.parameters.temperature=inf", "`temperature` must be a finite number"),
        ("+endpoints.simulated.options.latency_s=-inf", "`options.latency_s` must be a finite number"),
    ],
)
def test_a_non_finite_number_in_the_config_is_refused_naming_its_key(
    project: Path, override: str, key: str
) -> None:
    write_lines(project, "p.jsonl", many(3))

    for name in ("prompto-run", "prompto-check"):
        result = command(name, "experiment.file=p.jsonl", "env_file=null", override, cwd=project)

        assert_refused(result, key)
    assert completed_records(project) == []


def test_a_non_finite_pipeline_setting_is_refused(project: Path) -> None:
    result = command("prompto-pipeline", "--once", "pipeline.stable_for_s=inf", cwd=project)

    assert_refused(result, "`pipeline.stable_for_s`: Input should be a finite number")


def test_a_non_finite_number_in_a_judge_of_the_users_own_conf_is_refused(project: Path) -> None:
    (project / "conf" / "judge").mkdir(parents=True)
    (project / "conf" / "judge" / "fast.yaml").write_text(
        "models:\n  - {api: simulated, model_name: judge, max_queries: .inf}\n"
        "template: 'Is {response} right? VERDICT: yes or no'\nparse: {regex: 'VERDICT: (\\w+)'}\n"
    )
    write_lines(project, "p.jsonl", many(3))

    result = command(
        "prompto-check", "experiment.file=p.jsonl", "env_file=null", "judges=[fast]", cwd=project
    )

    assert_refused(result, "`judges.0`: Value error, `models.0.max_queries` must be a finite number")

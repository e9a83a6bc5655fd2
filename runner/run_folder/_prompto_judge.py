"""prompto's judge experiment, from the judge requests a run made (``judge.jsonl``).

prompto 0.2.1's ``Judge.create_judge_inputs`` makes, for each judge ``J`` of ``--judge`` (a key of the
judge folder's ``settings.json``), each template ``T`` and each completed record::

    {"id": "judge-J-T-<record id>", "template_name": T, "prompt": <T filled>,
     **settings[J], **{"input-<key>": value for each key of the completed record}}

and runs that file as the experiment ``judge-<name>``, which adds ``timestamp_sent`` and ``response``
(the judge's reply as it is: prompto keys no score). A translated judge (``runner.cli._prompto_stages``)
is named after its template file, and its models are the chosen judges in order; their names are in
``prompto_files.judges``.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from runner.config._config import RunConfig
from runner.run_folder._prompto_records import error_text, prompto_timestamp


@dataclass(frozen=True)
class JudgeName:
    """One judge model of one translated judge, as prompto names them."""

    judge: str
    """The settings.json key ``J``."""
    template: str
    """The template's name ``T`` (its file name without ``.txt``)."""
    settings: dict[str, Any]


JudgeNames = Mapping[str, JudgeName]
"""By the score key of prompto-run's judge record."""


def judge_names(config: RunConfig) -> dict[str, JudgeName]:
    """Each judge model's prompto names, by its score key (``T``, or ``T/<model_name>`` for several)."""
    names = config.prompto_files.judges
    found: dict[str, JudgeName] = {}
    for spec in config.judges:
        for index, model in enumerate(spec.models):
            key = spec.name if len(spec.models) == 1 else f"{spec.name}/{model.model_name}"
            judge = names[index] if index < len(names) else model.model_name
            settings = {
                "api": model.api,
                "model_name": model.model_name,
                "parameters": dict(model.parameters),
            }
            found.setdefault(key, JudgeName(judge, spec.name, settings))
    return found


def prompto_judge_input(
    judge_record: Mapping[str, Any], judged: Mapping[str, Any], names: JudgeNames
) -> dict[str, Any]:
    """The line prompto's judge file holds for this judge request."""
    name = _name(judge_record, names)
    return {
        "id": f"judge-{name.judge}-{name.template}-{judged.get('id', 'NA')}",
        "template_name": name.template,
        "prompt": judge_record.get("prompt"),
        **name.settings,
        **{f"input-{key}": value for key, value in judged.items()},
    }


def prompto_judge_record(
    judge_record: Mapping[str, Any], judged: Mapping[str, Any], names: JudgeNames, max_attempts: int
) -> dict[str, Any]:
    """The judge request's completed record, as prompto's judge experiment writes it."""
    failed = judge_record.get("error") is not None
    record = prompto_judge_input(judge_record, judged, names)
    record["timestamp_sent"] = prompto_timestamp(judge_record.get("timestamp_sent"))
    record["response"] = error_text(judge_record, max_attempts) if failed else judge_record.get("response")
    if failed:
        record["error"] = judge_record["error"]
    return record


def _name(judge_record: Mapping[str, Any], names: JudgeNames) -> JudgeName:
    key = str(judge_record.get("score_key"))
    if key in names:
        return names[key]
    model = {key: judge_record.get(key) for key in ("api", "model_name", "parameters")}
    return JudgeName(str(judge_record.get("model_name")), str(judge_record.get("judge")), model)

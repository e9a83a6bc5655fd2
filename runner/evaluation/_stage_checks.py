"""The evaluation stages' part of the validation pass: everything that would fail later, found first.

Added to the plan's problems (so the run stops with :class:`~runner.prompts._plan.ValidationFailed` before
anything is sent): a scorer that cannot be built, a judge or rephraser naming an unknown api or missing
its key, a template that cannot be read or parsed, and a template placeholder that some prompt lacks.
"""

from __future__ import annotations

import functools
import json
from collections.abc import Callable, Iterable, Mapping, Set
from dataclasses import dataclass
from typing import Any

from providers import ProviderContext, UnknownApiError
from runner.config._config import RunConfig
from runner.config._eval_config import StageModel
from runner.evaluation._scoring import ScorerBuildError, build_scorers
from runner.evaluation._templates import Template, TemplateError
from runner.prompts._plan import Plan
from runner.prompts._resolve import provider_type

RECORD_KEYS = frozenset(
    {"id", "api", "model_name", "parameters", "response", "error", "attempts", "timestamp_sent"}
    | {"latency_s", "usage", "finish_reason", "served_model", "scores"}
)
"""Keys every answered record has, whatever its prompt dict holds."""
REPHRASE_KEYS = frozenset({"rephrase_of", "rephrase_template", "rephrase_index"})
REPHRASER_KEYS = frozenset({"id", "api", "model_name", "parameters", "n"})


@dataclass
class _Missing:
    count: int
    first_id: str


def check_stages(config: RunConfig, plan: Plan, environ: Mapping[str, str]) -> None:
    """Add every problem of the configured stages to ``plan``."""
    check_scorers(config, plan)
    check_stage_models(config, plan, environ)
    judge_templates = [_template(plan, f"judge '{j.name}'", j.template_text) for j in config.judges]
    rephrase_templates = []
    if config.rephrase is not None:
        for index, text in enumerate(config.rephrase.templates):
            where = f"rephrase '{config.rephrase.name}' template {index}"
            rephrase_templates.append(_template(plan, where, functools.partial(str, text)))
    _check_placeholders(
        config,
        plan,
        [t for t in judge_templates if t is not None],
        [t for t in rephrase_templates if t is not None],
    )


def check_scorers(config: RunConfig, plan: Plan) -> None:
    """Every scorer can be imported and built with its arguments."""
    try:
        build_scorers(config.scorers)
    except ScorerBuildError as exc:
        plan.add_problem(None, str(exc))


def check_stage_models(config: RunConfig, plan: Plan, environ: Mapping[str, str]) -> None:
    """Every judge and rephrasing model names a known api, configured (keys set) for its model."""
    models = [(f"judge '{judge.name}'", model) for judge in config.judges for model in judge.models]
    if config.rephrase is not None:
        models.append((f"rephrase '{config.rephrase.name}'", config.rephrase.model))
    for where, model in models:
        _check_model(config, plan, where, model, environ)


def check_judge_templates(config: RunConfig, plan: Plan, records: Iterable[Mapping[str, Any]]) -> None:
    """Check judge templates against the answered records of a finished run (re-judging it)."""
    templates = [_template(plan, f"judge '{j.name}'", j.template_text) for j in config.judges]
    missing: dict[tuple[str, str], _Missing] = {}
    for record in records:
        if record.get("error") is None:
            _note_missing(
                [t for t in templates if t is not None], record.keys(), str(record.get("id")), missing
            )
    _add_missing(plan, missing, "record")


def _check_model(
    config: RunConfig, plan: Plan, where: str, model: StageModel, environ: Mapping[str, str]
) -> None:
    try:
        cls = provider_type(config, model.api, model.model_name)
    except (UnknownApiError, ImportError) as exc:
        plan.add_problem(None, f"{where}: {exc}")
        return
    context = ProviderContext(
        model.model_name,
        config.endpoint_for(model.api, model.model_name),
        environ,
        data_folder=config.data_folder,
    )
    for problem in cls.check_config(context):
        plan.add_problem(None, f"{where}: api '{model.api}', model '{model.model_name}': {problem}")


def _template(plan: Plan, where: str, read: Callable[[], str]) -> Template | None:
    try:
        return Template(str(read()), where=where)
    except TemplateError as exc:
        plan.add_problem(None, str(exc))
    except OSError as exc:
        plan.add_problem(None, f"{where}: template file cannot be read: {exc}")
    return None


def _check_placeholders(
    config: RunConfig, plan: Plan, judge_templates: list[Template], rephrase_templates: list[Template]
) -> None:
    if not judge_templates and not rephrase_templates:
        return
    missing: dict[tuple[str, str], _Missing] = {}
    judged_extra = RECORD_KEYS | (REPHRASE_KEYS if config.rephrase is not None else frozenset())
    ids: set[str] = set()
    with plan.prompt_file.open("rb") as file:
        for line in file:
            data = json.loads(line)
            prompt_id = str(data["id"])
            ids.add(prompt_id)
            _note_missing(judge_templates, data.keys() | judged_extra, prompt_id, missing)
            _note_missing(rephrase_templates, data.keys() | REPHRASER_KEYS, prompt_id, missing)
    _add_missing(plan, missing, "prompt")
    if config.rephrase is not None:
        _check_variant_ids(plan, ids, config.rephrase.n * len(config.rephrase.templates))


def _check_variant_ids(plan: Plan, ids: set[str], variants: int) -> None:
    """A rephrasing is sent as ``<id>-r<k>``: no prompt of the file may already have that id."""
    for prompt_id in sorted(ids):
        taken = [f"{prompt_id}-r{k}" for k in range(1, variants + 1) if f"{prompt_id}-r{k}" in ids]
        if taken:
            plan.add_problem(
                None,
                f"prompt '{prompt_id}': its rephrasings would be sent as {taken[0]}, an id the file uses",
            )


def _note_missing(
    templates: list[Template], keys: Set[str], item_id: str, missing: dict[tuple[str, str], _Missing]
) -> None:
    for template in templates:
        for name in template.missing(keys):
            entry = missing.setdefault((template.where, name), _Missing(0, item_id))
            entry.count += 1


def _add_missing(plan: Plan, missing: dict[tuple[str, str], _Missing], what: str) -> None:
    for (where, name), entry in missing.items():
        others = f" (nor of {entry.count - 1} other {what}(s))" if entry.count > 1 else ""
        plan.add_problem(
            None, f"{where}: placeholder {{{name}}} is not a key of {what} '{entry.first_id}'{others}"
        )

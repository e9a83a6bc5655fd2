"""Typed config for the evaluation stages: scorers, judges and rephrasing (validated with RunConfig).

``conf/scorer/NAME.yaml``, ``conf/judge/NAME.yaml`` and ``conf/rephrase/NAME.yaml`` are looked up by
:mod:`runner.config._compose_groups` and arrive here as plain dicts with their ``name`` filled in.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field, model_validator

from providers import EndpointSettings
from scorers import ScoreValue


class _Strict(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True, populate_by_name=True)


class ScorerSpec(_Strict):
    """One scorer: ``_target_`` is a factory called with ``args`` that returns the scorer.

    Keys besides ``name``, ``_target_`` and ``_partial_`` are the factory's arguments. With
    ``_partial_: true`` the target is the scorer itself (called with the record and the arguments).
    """

    name: str
    target: str = Field(alias="_target_")
    partial: bool = Field(default=False, alias="_partial_")
    args: dict[str, Any] = Field(default_factory=dict)

    @model_validator(mode="before")
    @classmethod
    def _fold_arguments(cls, value: Any) -> Any:
        if not isinstance(value, dict) or "args" in value:
            return value
        own = {"name", "_target_", "target", "_partial_", "partial"}
        return {
            **{k: v for k, v in value.items() if k in own},
            "args": {k: v for k, v in value.items() if k not in own},
        }


class StageModel(_Strict):
    """A model a stage sends to (a judge or a rephraser), with its own queue's pacing."""

    api: str
    model_name: str
    parameters: dict[str, Any] = Field(default_factory=dict)
    max_queries: float | None = Field(
        default=None, gt=0, description="Queries per minute for this model's queue (default: max_queries)."
    )
    max_in_flight: int | None = Field(default=None, gt=0)
    endpoint: EndpointSettings | None = Field(
        default=None, description="Where to reach this model, if not the api's entry in endpoints."
    )
    max_usd: float | None = Field(default=None, gt=0, description="This stage model's budget.")


def stage_endpoint(
    judges: list[JudgeSpec], rephrase: RephraseSpec | None, api: str, model_name: str
) -> EndpointSettings | None:
    """The endpoint a judge or rephrasing model of this api and name sets for itself, if any."""
    models = [model for judge in judges for model in judge.models]
    if rephrase is not None:
        models.append(rephrase.model)
    for model in models:
        if (model.api, model.model_name) == (api, model_name) and model.endpoint is not None:
            return model.endpoint
    return None


class VerdictSpec(_Strict):
    """How a judge's reply becomes a score.

    ``regex``: the verdict is its first group (or the whole match). ``labels``: a list of labels, or a
    mapping from label to score (``{yes: true, no: false}``); the verdict must be exactly one of them, or
    the reply must name exactly one of them. ``as_text``: the verdict is the text itself. Otherwise
    the verdict must be a number.
    """

    regex: str | None = None
    labels: list[str] | dict[str, ScoreValue] | None = None
    ignore_case: bool = True
    as_text: bool = Field(
        default=False,
        description="The verdict is the reply's text (after regex), stripped, as prompto keeps it.",
    )

    @model_validator(mode="after")
    def _text_or_labels(self) -> VerdictSpec:
        if self.as_text and self.labels is not None:
            raise ValueError("parse: as_text keeps the reply's text; it takes no labels")
        return self


class JudgeSpec(_Strict):
    """An LLM judge: its model(s), the prompt it is given, and how its verdict is read."""

    name: str
    models: list[StageModel] = Field(min_length=1)
    template: str | None = Field(
        default=None, description="Placeholders: {prompt}, {response} and any key of the record."
    )
    template_file: Path | None = None
    system: str | None = None
    parse: VerdictSpec = Field(default_factory=VerdictSpec)

    @model_validator(mode="after")
    def _one_template(self) -> JudgeSpec:
        if (self.template is None) == (self.template_file is None):
            raise ValueError(f"judge '{self.name}' needs exactly one of template or template_file")
        return self

    def template_text(self) -> str:
        """The template, read from ``template_file`` when it is given as a file (OSError if unreadable)."""
        if self.template is not None:
            return self.template
        assert self.template_file is not None
        return self.template_file.read_text(encoding="utf-8")


class RephraseSpec(_Strict):
    """A rephrasing stage: each prompt is rewritten ``n`` times per template before it is sent.

    ``parse``: ``single`` (each reply is one rephrasing: ``n`` requests per template) or ``list`` (one
    request per template whose reply is a numbered or bulleted list, split into up to ``n`` rephrasings).
    """

    name: str = Field(default="rephrase", description="Names its queue and records; set in its YAML.")
    model: StageModel
    templates: list[str] = Field(min_length=1, description="Placeholders: {prompt}, {n}, any prompt key.")
    n: int = Field(default=1, ge=1)
    parse: Literal["single", "list"] = "list"
    keep_original: bool = Field(
        default=True, description="Send each original prompt too (prompto's --remove-original turns it off)."
    )

    @model_validator(mode="before")
    @classmethod
    def _one_template(cls, value: Any) -> Any:
        if isinstance(value, dict) and "template" in value and "templates" not in value:
            value = {**value, "templates": [value["template"]]}
            del value["template"]
        return value

"""The run's configuration as typed objects, validated once at the entry point.

The CLI turns Hydra's composed config into plain containers and calls :meth:`RunConfig.model_validate`;
nothing below it sees a ``DictConfig``. Every model forbids unknown keys, so a typo in YAML or on the
command line fails before anything is sent. Every number must be finite, free-form values (parameters,
endpoint options, stages) included: ``max_queries=inf`` or ``temperature: .nan`` is refused here, not
found by the engine or by an API (``Infinity`` is not JSON).
"""

from __future__ import annotations

import functools
import math
from pathlib import Path
from typing import Annotated, Any, Literal, TypeVar

from pydantic import AfterValidator, BaseModel, ConfigDict, Field, model_validator

from providers import EndpointSettings
from runner.config._eval_config import JudgeSpec, RephraseSpec, ScorerSpec, stage_endpoint
from runner.config._shard import Shard, ShardRate

_T = TypeVar("_T")

SHIPPED_DATA = Path(__file__).resolve().parents[2] / "conf" / "data"
"""The prompt files of the shipped experiments (``conf/data/``, installed with the package)."""


def _non_finite_at(value: Any, path: str) -> str | None:
    """The dotted path of the first number in ``value`` that is not finite, if any."""
    if isinstance(value, BaseModel):
        value = value.model_dump()
    if isinstance(value, float) and not math.isfinite(value):
        return path or "the value"
    items = value.items() if isinstance(value, dict) else enumerate(value) if isinstance(value, list) else ()
    for key, item in items:
        if (where := _non_finite_at(item, f"{path}.{key}" if path else str(key))) is not None:
            return where
    return None


def _all_finite(value: _T) -> _T:
    """``value``, if every number in it (at any depth) is finite."""
    if (where := _non_finite_at(value, "")) is not None:
        raise ValueError(f"`{where}` must be a finite number")
    return value


Finite = Annotated[_T, AfterValidator(_all_finite)]
"""A free-form value (or another module's model) whose numbers must all be finite."""


class _Strict(BaseModel):
    # allow_inf_nan: typed numbers (max_queries=inf) are refused with their key; see Finite for the rest.
    model_config = ConfigDict(extra="forbid", frozen=True, allow_inf_nan=False)


class DeclaredPrice(_Strict):
    """A model's price in USD per million tokens, declared where no price source knows the model (a
    self-hosted model, a fine-tune) or to override one (``conf/model/*.yaml`` ``price:``, or ``prices:``)."""

    input_per_mtok: float = Field(ge=0)
    output_per_mtok: float = Field(ge=0)
    cached_input_per_mtok: float | None = Field(
        default=None, ge=0, description="Cache reads (default: input)."
    )
    cache_write_per_mtok: float | None = Field(
        default=None, ge=0, description="Cache writes (default: input)."
    )


class QueueLimit(_Strict):
    """Pacing for one queue. A bare number in YAML means ``max_queries``."""

    max_queries: float | None = Field(default=None, gt=0, description="Queries per minute.")
    max_in_flight: int | None = Field(default=None, gt=0, description="Requests awaiting a reply at once.")
    max_tokens_per_minute: int | None = Field(
        default=None, gt=0, description="Prompt tokens (estimated) plus max_tokens per minute."
    )

    max_usd: float | None = Field(
        default=None, gt=0, description="Stop sending this queue's prompts once they could cost more."
    )
    mode: Literal["batch", "live"] | None = Field(
        default=None,
        description="batch: send through the API's batch API; live: never; unset: as `batch` says.",
    )

    @model_validator(mode="before")
    @classmethod
    def _number_is_rate(cls, value: Any) -> Any:
        return (
            {"max_queries": value}
            if isinstance(value, int | float) and not isinstance(value, bool)
            else value
        )


class ApiLimit(QueueLimit):
    """Pacing for an API's queue, and for queues of single models of that API."""

    models: dict[str, QueueLimit] = Field(default_factory=dict)


class SharedLimiterSettings(BaseModel):
    """``rate_limits.shared``: where the shared buckets live."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    backend: Literal["redis"] = "redis"
    url: str = Field(default="redis://127.0.0.1:6379/0", description="redis:// or rediss:// URL.")
    key_prefix: str = Field(default="prompto-run:", description="Bucket keys are <key_prefix><queue>.")
    burst: int = Field(default=1, ge=1, description="Tokens a bucket may save up while its queues idle.")


class RateLimits(_Strict):
    """prompto's ``max_queries_dict``, as YAML::

    rate_limits:
      apis:
        openai: {max_queries: 500, models: {gpt-4o: 100}}
        gemini: 300
      groups:
        judges: 30
    """

    apis: dict[str, ApiLimit] = Field(default_factory=dict)
    groups: dict[str, QueueLimit] = Field(default_factory=dict)
    shared: SharedLimiterSettings | None = Field(
        default=None, description="Pace queues jointly with other jobs through Redis (off by default)."
    )


class ModelConfig(_Strict):
    """One endpoint and model (``conf/model/NAME.yaml``), applied to prompts that name none."""

    model_config = ConfigDict(extra="forbid", frozen=True, populate_by_name=True, allow_inf_nan=False)

    api: str
    model_name: str
    parameters: Finite[dict[str, Any]] = Field(default_factory=dict)
    endpoint: Finite[EndpointSettings] = Field(default_factory=EndpointSettings)
    target: str | None = Field(default=None, alias="_target_", description="A user's own Provider class.")
    rate_limit: QueueLimit | None = None
    price: DeclaredPrice | None = Field(
        default=None, description="USD per million tokens (else genai-prices)."
    )
    expected_output_tokens: int | None = Field(
        default=None, gt=0, description="Output tokens a reply typically has, for cost estimates."
    )


class CacheConfig(_Strict):
    """The opt-in response cache (see :mod:`runner.engine._cache`)."""

    enabled: bool = False
    dir: Path = Field(default=Path(".cache/prompto-run"), description="Holds responses.sqlite.")
    sampled: bool = Field(
        default=False, description="Also reuse replies sampled at temperature > 0 or with no temperature set."
    )
    keep_incomplete: bool = Field(
        default=False,
        description=(
            "Also store and reuse replies a retry might improve: cut off by the token limit (finish_reason "
            "length, max_tokens, MAX_TOKENS) or empty. Off: such a prompt is sent again on the next run."
        ),
    )


class BatchConfig(_Strict):
    """Batch mode (see :mod:`runner.engine._batch_queue`): queues sent through the APIs' batch APIs,
    at their batch price, outside the per-minute limits, answered within 24 hours."""

    enabled: bool = Field(default=False, description="Batch every queue whose API has a batch API.")
    apis: list[str] | None = Field(
        default=None, description="Only these APIs' queues (setting it turns batch mode on)."
    )
    wait: bool = Field(
        default=True,
        description="Poll until every batch is collected; false: submit, then exit (resume= collects).",
    )
    retry: Literal["batch", "live"] = Field(
        default="batch", description="Failed or expired requests go in the next batch, or are sent live."
    )
    poll_interval_s: float = Field(default=30.0, gt=0, description="First wait between two polls.")
    max_poll_interval_s: float = Field(
        default=600.0, gt=0, description="The wait between polls doubles up to this."
    )
    max_requests: int | None = Field(default=None, gt=0, description="Per batch, below the API's limit.")
    max_mb: float | None = Field(default=None, gt=0, description="Per batch, below the API's limit.")

    def wanted_for(self, api: str, limit_mode: str | None) -> bool:
        """Whether a queue of ``api`` whose limit sets ``limit_mode`` should batch (if its API can)."""
        if limit_mode is not None:
            return limit_mode == "batch"
        if self.apis is not None:
            return api in self.apis
        return self.enabled


class BudgetConfig(_Strict):
    """``budget``: a hard stop on what a run may spend (see :mod:`runner.costs`)."""

    max_usd: float | None = Field(
        default=None,
        gt=0,
        description="Stop sending once the spend plus the worst case of what is in flight would pass it.",
    )


class ExperimentConfig(_Strict):
    """One experiment: its prompt file and defaults for prompt dicts that lack them."""

    file: Path
    name: str | None = None
    api: str | None = None
    model_name: str | None = None
    parameters: Finite[dict[str, Any]] = Field(default_factory=dict)

    @property
    def run_name(self) -> str:
        """``name``, else the prompt file's stem."""
        return self.name or self.file.stem


class ProgressConfig(_Strict):
    """Live progress: rich lines on a terminal, periodic plain lines otherwise (CI, SLURM, nohup)."""

    mode: Literal["auto", "rich", "plain", "off"] = "auto"
    interval_s: float = Field(default=30.0, gt=0, description="Seconds between plain progress lines.")


class ReportConfig(_Strict):
    """``report.html`` in the run folder, written when the run ends (``prompto-report RUN_DIR`` later)."""

    auto: bool = True
    samples_per_model: int = Field(default=200, ge=0, description="Records per model in the sample table.")


class PromptoFilesConfig(_Strict):
    """``prompto_files``: prompto's commands also leave prompto's own files in the data folder's
    ``output/`` (see :mod:`runner.run_folder._prompto_layout`); ``prompto-run`` leaves its run folder only."""

    enabled: bool = False
    csv: bool = Field(
        default=False, description="Also prompto's CSV of the completed file (--output-as-csv)."
    )
    judges: list[str] = Field(
        default_factory=list,
        description="The judge folder's names of each translated judge's models, in order (prompto's ids).",
    )


class RunConfig(_Strict):
    """Everything one ``prompto-run`` needs."""

    experiment: ExperimentConfig
    data_folder: Path = Path("data")
    max_queries: float = Field(default=10, gt=0, description="Queries per minute for queues not named.")
    max_attempts: int = Field(default=5, ge=1)
    parallel: bool = False
    env_file: Path | None = Path(".env")
    request_timeout_s: float = Field(default=300.0, gt=0, description="Deadline for one request.")
    max_reply_mb: float = Field(
        default=64.0, gt=0, description="A larger reply (decompressed) is recorded as malformed_reply."
    )
    model: ModelConfig | None = None
    rate_limits: RateLimits = Field(default_factory=RateLimits)
    endpoints: dict[str, Finite[EndpointSettings]] = Field(
        default_factory=dict, description="Per-api endpoint settings (base_url, api_key_env, options)."
    )
    providers: dict[str, str] = Field(
        default_factory=dict, description="Extra api names mapped to Provider classes (import paths)."
    )
    output_dir: Path = Field(default=Path("."), description="Where this run writes (Hydra's run dir).")
    progress: ProgressConfig = Field(default_factory=ProgressConfig)
    report: ReportConfig = Field(default_factory=ReportConfig)
    prompto_files: PromptoFilesConfig = Field(default_factory=PromptoFilesConfig)
    scorers: list[Finite[ScorerSpec]] = Field(
        default_factory=list, description="conf/scorer/ names, resolved."
    )
    judges: list[Finite[JudgeSpec]] = Field(default_factory=list, description="conf/judge/ names, resolved.")
    rephrase: Finite[RephraseSpec] | None = Field(
        default=None, description="A conf/rephrase/ name, resolved."
    )
    cache: CacheConfig = Field(default_factory=CacheConfig)
    batch: BatchConfig = Field(default_factory=BatchConfig)
    budget: BudgetConfig = Field(default_factory=BudgetConfig)
    prices: dict[str, DeclaredPrice] = Field(
        default_factory=dict,
        description="Declared prices by `api/model_name` (a model config's `price` wins).",
    )
    expected_output_tokens: int | None = Field(
        default=None, gt=0, description="Output tokens a reply typically has, for cost estimates."
    )
    resume: Path | None = Field(
        default=None, description="A run folder to finish in place (set by `resume=RUN_DIR`)."
    )
    shard: Shard | None = Field(default=None, description="`i/n`: send only the i-th of n parts (0-based).")
    shard_rate: ShardRate = Field(default="split", description="`split`: 1/n of each rate per shard.")

    @property
    def input_folder(self) -> Path:
        """The data folder's ``input/``."""
        return self.data_folder / "input"

    @property
    def media_folder(self) -> Path:
        """The data folder's ``media/`` (made once per data folder: each prompt resolved asks for it)."""
        return _media_folder(self.data_folder)

    def resolve_prompt_file(self) -> Path:
        """``experiment.file``: absolute as given, else under ``input/`` first, then the working directory,
        then the data the shipped experiments come with (so ``+experiment=demo`` runs from any folder;
        a user's own file of the same name is found first)."""
        file = self.experiment.file
        if file.is_absolute():
            return file
        for candidate in (self.input_folder / file, file, SHIPPED_DATA / file):
            if candidate.exists():
                return candidate
        return self.input_folder / file

    def uses_model(self, api: str, model_name: str) -> bool:
        """Whether ``model=`` selected exactly this api and model."""
        return self.model is not None and (self.model.api, self.model.model_name) == (api, model_name)

    def endpoint_for(self, api: str, model_name: str) -> EndpointSettings:
        """The model config's or a judge's / rephraser's own endpoint, else the api's ``endpoints`` entry."""
        if (
            self.model is not None
            and self.uses_model(api, model_name)
            and self.model.endpoint != EndpointSettings()
        ):
            return self.model.endpoint
        own = stage_endpoint(self.judges, self.rephrase, api, model_name)
        return own or self.endpoints.get(api, EndpointSettings())

    def provider_target(self, api: str, model_name: str) -> str | None:
        """A user's own provider class for this api/model, if one is named."""
        if self.model is not None and self.uses_model(api, model_name) and self.model.target:
            return self.model.target
        return self.providers.get(api)


@functools.lru_cache(maxsize=64)
def _media_folder(data_folder: Path) -> Path:
    """Not a cached attribute of the (frozen) config: pydantic would compare and copy it."""
    return data_folder / "media"


class PipelineConfig(_Strict):
    """``prompto-pipeline``'s own settings (``conf/pipeline/default.yaml``); each run uses a RunConfig."""

    max_experiments: int = Field(default=1, ge=1, description="Experiment files processed at once.")
    poll_interval_s: float = Field(default=5.0, gt=0, description="Seconds between looks at input/.")
    stable_for_s: float = Field(
        default=2.0, ge=0, description="A file is taken once its size and mtime held this long."
    )
    once: bool = Field(default=False, description="Process what input/ holds, then exit.")

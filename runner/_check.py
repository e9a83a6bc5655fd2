"""``prompto-check``: validate an experiment without sending anything, and show its plan.

The validation is the run's own (:func:`runner._validate.validate_experiment`: the prompt file, then
the stages' checks: scorers, judge and rephrase models and templates), so a file that checks clean
starts; the plan says how many prompts each queue holds, its rate, how long sending takes at that rate
(``(n - 1) * 60 / rate``: the first prompt goes at once; queues run side by side, so the experiment
takes as long as its slowest queue) and its prompt tokens (estimated, characters / 4).
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path

from runner._run import effective_environ
from runner._validate import validate_experiment
from runner.config._config import RunConfig
from runner.display._progress import duration
from runner.prompts._plan import Plan, QueuePlan, ValidationFailed


@dataclass(frozen=True)
class CheckReport:
    """The experiment checked: its prompt file and its plan (with any problems)."""

    name: str
    prompt_file: Path
    plan: Plan

    @property
    def runnable(self) -> bool:
        """Whether the experiment has no problem."""
        return self.plan.problem_count == 0

    @property
    def wall_time_s(self) -> float:
        """Seconds to send every prompt at the configured rates (queues run side by side)."""
        return max((queue_wall_time_s(queue) for queue in self.plan.queues.values()), default=0.0)


def queue_wall_time_s(queue: QueuePlan) -> float:
    """Seconds from the queue's first request to its last at its rate."""
    rate = queue.limit.max_queries
    assert rate is not None  # queue_limit always fills it in
    return max(0, queue.count - 1) * 60.0 / rate


def check_experiment(config: RunConfig, environ: Mapping[str, str] | None = None) -> CheckReport:
    """Validate the experiment ``config`` names (prompt file, endpoints, keys, stages); nothing is sent."""
    validation = validate_experiment(config, effective_environ(config, environ))
    return CheckReport(config.experiment.run_name, validation.prompt_file, validation.plan)


def format_check(report: CheckReport) -> str:
    """Every problem with its line, or the plan: per queue prompts, rate, time and tokens."""
    plan = report.plan
    if not report.runnable:
        return f"{report.name} ({report.prompt_file}): not runnable. {ValidationFailed(plan)}"
    queues = plan.queues.values()
    lines = [
        f"{report.name} ({report.prompt_file}): runnable, {plan.total} prompts in {len(queues)} queue(s)",
        f"  {'queue':<32} {'prompts':>8} {'per min':>8} {'time at rate':>13} {'prompt tokens (est.)':>21}",
    ]
    for queue in queues:
        rate = queue.limit.max_queries or 0.0
        lines.append(
            f"  {str(queue.key):<32} {queue.count:>8,} {rate:>8g} {duration(queue_wall_time_s(queue)):>13} "
            f"{queue.prompt_tokens:>21,}"
        )
    lines.append(
        f"expected wall time: {duration(report.wall_time_s)} at these rates (queues run side by side), "
        "plus the last replies"
    )
    if plan.skipped:
        lines.append(f"({plan.skipped} prompt(s) left out)")
    return "\n".join(lines)

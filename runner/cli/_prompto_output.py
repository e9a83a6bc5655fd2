"""Where prompto's commands write: prompto's files under the data folder, the run folder beside them.

``prompto_run_experiment -f x.jsonl -d data`` runs with ``prompto_files.enabled=true`` and the run
folder ``data/output/x/.prompto-run/<ts>/`` (``<ts>`` in prompto's format), so that the run leaves
prompto's ``data/output/x/<ts>-completed-x.jsonl`` and the rest (:mod:`runner.run_folder._prompto_layout`).
"""

from __future__ import annotations

import argparse
from datetime import datetime
from pathlib import Path

from runner.cli._overrides import override
from runner.run_folder._prompto_layout import prompto_run_dir

PROMPTO_DATA_FOLDER = "data"


def prompto_file_overrides(args: argparse.Namespace, experiment_file: str) -> list[str]:
    """The overrides that make ``prompto_run_experiment``'s run leave prompto's files."""
    output = Path(args.data_folder or PROMPTO_DATA_FOLDER) / "output"
    name = Path(experiment_file).name.removesuffix(".jsonl").removesuffix(".csv")
    overrides = [
        override("hydra.run.dir", str(prompto_run_dir(output, name, datetime.now()))),
        *pipeline_file_overrides(),
    ]
    if getattr(args, "output_as_csv", False):
        overrides.append(override("prompto_files.csv", True))
    if getattr(args, "judge", None):
        names = list(dict.fromkeys(name for name in args.judge.replace(" ", "").split(",") if name))
        overrides.append(override("prompto_files.judges", names))
    return overrides


def pipeline_file_overrides() -> list[str]:
    """``prompto_run_pipeline``'s: each file it takes leaves prompto's files."""
    return [override("prompto_files.enabled", True)]

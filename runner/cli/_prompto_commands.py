"""prompto's commands, for prompto users' scripts: ``prompto_run_experiment``, ``prompto_run_pipeline``
and ``prompto_check_experiment``.

Each takes prompto's flags, translates them into Hydra overrides and runs the same path as
``prompto-run`` / ``prompto-pipeline`` / ``prompto-check`` with them, so every run leaves the same
composed config behind (``.hydra/config.yaml``; for ``prompto_run_experiment`` also the translated
overrides in ``.hydra/overrides.yaml``). Hydra overrides may follow the flags, e.g.
``prompto_run_experiment -f exp.jsonl model=simulated_fast``.

============================  ==============================================
prompto flag                  override
============================  ==============================================
``--file/-f F``               ``experiment.file=F``
``--data-folder/-d D``        ``data_folder=D``
``--env-file/-e E``           ``env_file=E``
``--max-queries/-mq N``       ``max_queries=N``
``--max-attempts/-ma N``      ``max_attempts=N``
``--parallel/-p``             ``parallel=true``
``--max-queries-json/-mqj J`` ``rate_limits={apis: ..., groups: ...}`` (see :mod:`runner.cli._prompto_limits`)
``--scorers/--scorer/-s a,b`` ``scorers=[a,b]``
``--judge-folder/-jf/-l F``   ``judges=[...]``: one judge per template file, its models the chosen
``--judge-templates/-jt``     judges of ``F/settings.json``, its verdict the reply's text
``--templates/-t T,U``
``--judge/-j J,K``            (see :mod:`runner.cli._prompto_stages`)
``--rephrase-folder/-rf F``   ``rephrase={...}``: the templates of ``F/T`` (one a line), sent to the
``--rephrase-templates/-rt T`` rephrase model named in ``F/settings.json``; ``--remove-original``
``--rephrase-model/-r M``     sends only the rephrasings
============================  ==============================================

``--move-to-input/-m`` moves the file into the data folder's ``input/`` first, as prompto does. The
judge and rephrase flags belong to ``prompto_run_experiment`` and ``prompto_check_experiment``, as in
prompto; 0.2.1's ``-l`` (and the older ``--judge-location``) names the judge folder only in
``prompto_run_experiment``, as ``prompto_check_experiment``'s ``-l`` is its ``--log-file``.
``--output-as-csv`` is parsed into ``args.output_as_csv``, for the code that writes prompto's files.
prompto's ``--only-rephrase`` and ``--rephrase-parser`` are refused with a message: a
prompto-run run sends its rephrasings in the same run, and splits list replies with ``parse: list``.
"""

from __future__ import annotations

import argparse
import shutil
import sys
from collections.abc import Sequence
from pathlib import Path

from runner.cli import _prompto_run
from runner.cli._commands import OVERRIDES_HELP, check_text, pipeline_main, print_check
from runner.cli._exit import exit_status
from runner.cli._overrides import override
from runner.cli._prompto_limits import load_max_queries_json
from runner.cli._prompto_output import pipeline_file_overrides, prompto_file_overrides
from runner.cli._prompto_stages import judges_from_folder, rephrase_from_folder
from runner.config._compose import ConfigError
from runner.config._errors import UserError

PROMPTO_DATA_FOLDER = "data"


def _number(text: str) -> int | float:
    value = float(text)
    return int(value) if value.is_integer() else value


def _parser(
    prog: str, description: str, *, with_file: bool, released: bool = False
) -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog=prog, description=description)
    if with_file:
        parser.add_argument("--file", "-f", required=True, help="the experiment file (.jsonl or .csv)")
        parser.add_argument(
            "--move-to-input", "-m", action="store_true", help="move the file into DATA_FOLDER/input/ first"
        )
        _add_stage_flags(parser, released_names=released)
    parser.add_argument("--data-folder", "-d", help="folder holding input/, output/ and media/")
    parser.add_argument("--env-file", "-e", help="environment file with API keys (default .env)")
    parser.add_argument("--max-queries", "-mq", type=_number, help="queries per minute for every queue")
    parser.add_argument("--max-attempts", "-ma", type=int, help="attempts per prompt, the first included")
    parser.add_argument("--parallel", "-p", action="store_true", help="one queue per group / api / model")
    parser.add_argument(
        "--max-queries-json", "-mqj", type=Path, help="prompto's JSON of rates per api, model or group"
    )
    parser.add_argument("--scorers", "--scorer", "-s", help="scorer names, comma-separated")
    parser.add_argument("overrides", nargs="*", help=OVERRIDES_HELP)
    return parser


def _add_stage_flags(parser: argparse.ArgumentParser, *, released_names: bool = False) -> None:
    """The judge and rephrase flags under main's names; ``released_names`` adds 0.2.1's
    ``--judge-folder/-l`` and ``--templates/-t`` (and the older ``--judge-location``), which
    ``prompto_check_experiment`` cannot take: its ``-l`` is ``--log-file``."""
    judge = parser.add_argument_group("LLM judge (prompto's judge folder)")
    folder_names = ["--judge-folder", "-jf", *(["-l", "--judge-location"] if released_names else [])]
    judge.add_argument(
        *folder_names, dest="judge_folder", type=Path, help="folder with settings.json and templates"
    )
    judge.add_argument(
        "--judge-templates",
        "-jt",
        "--templates",
        "-t",
        dest="judge_templates",
        default="template.txt",
        help="template files, comma-separated",
    )
    judge.add_argument("--judge", "-j", help="judges of settings.json, comma-separated")
    rephrase = parser.add_argument_group("rephrasing (prompto's rephrase folder)")
    rephrase.add_argument(
        "--rephrase-folder", "-rf", type=Path, help="folder with settings.json and templates"
    )
    rephrase.add_argument("--rephrase-templates", "-rt", default="template.txt", help="one template a line")
    rephrase.add_argument("--rephrase-model", "-r", help="the rephrase model of settings.json")
    rephrase.add_argument("--remove-original", "-ro", action="store_true", help="send only the rephrasings")
    rephrase.add_argument("--only-rephrase", "-or", action="store_true", help=argparse.SUPPRESS)
    rephrase.add_argument("--rephrase-parser", "-rp", help=argparse.SUPPRESS)


def stage_overrides(args: argparse.Namespace) -> list[str]:
    """The ``judges`` and ``rephrase`` overrides prompto's judge and rephrase flags mean."""
    overrides = []
    if (args.judge_folder is None) != (args.judge is None):
        raise ConfigError(
            "--judge-folder and --judge go together: the folder, and the judges of its settings.json"
        )
    if args.judge_folder is not None:
        judges = judges_from_folder(args.judge_folder, args.judge_templates, args.judge)
        overrides.append(override("judges", judges))
    if args.only_rephrase:
        raise ConfigError(
            "--only-rephrase: prompto-run sends the rephrasings in the same run; to see them without "
            "querying the experiment's models, use a simulated model (model=simulated_fast)"
        )
    if args.rephrase_parser is not None:
        raise ConfigError("--rephrase-parser: prompto-run's rephrase stage reads lists with parse: list")
    if (args.rephrase_folder is None) != (args.rephrase_model is None):
        raise ConfigError("--rephrase-folder and --rephrase-model go together")
    if args.rephrase_folder is not None:
        rephrase = rephrase_from_folder(
            args.rephrase_folder,
            args.rephrase_templates,
            args.rephrase_model,
            keep_original=not args.remove_original,
        )
        overrides.append(override("rephrase", rephrase, prefix="++"))
    return overrides


def settings_overrides(args: argparse.Namespace) -> list[str]:
    """The Hydra overrides prompto's settings flags mean, followed by the user's own overrides."""
    overrides = []
    if args.data_folder is not None:
        overrides.append(override("data_folder", args.data_folder))
    if args.env_file is not None:
        overrides.append(override("env_file", args.env_file))
    if args.max_queries is not None:
        overrides.append(override("max_queries", args.max_queries))
    if args.max_attempts is not None:
        overrides.append(override("max_attempts", args.max_attempts))
    if args.parallel:
        overrides.append(override("parallel", True))
    if args.max_queries_json is not None:
        overrides.append(override("rate_limits", load_max_queries_json(args.max_queries_json), prefix="++"))
    if args.scorers is not None:
        names = [name.strip() for name in args.scorers.split(",") if name.strip()]
        overrides.append(override("scorers", names))
    return [*overrides, *args.overrides]


def _experiment_file(args: argparse.Namespace) -> str:
    """``--file``, moved into ``input/`` first with ``--move-to-input``."""
    file = Path(args.file)
    if not args.move_to_input:
        return str(args.file)
    input_folder = Path(args.data_folder or PROMPTO_DATA_FOLDER) / "input"
    if file.resolve().parent != input_folder.resolve():
        if not file.is_file():
            raise ConfigError(f"--file: '{file}' not found")
        input_folder.mkdir(parents=True, exist_ok=True)
        shutil.move(file, input_folder / file.name)
    return file.name


def run_experiment_main(argv: Sequence[str] | None = None) -> int:
    """``prompto_run_experiment``: prompto's flags, then ``prompto-run`` itself."""
    parser = _parser(
        "prompto_run_experiment", "Run one experiment file (prompto's flags).", with_file=True, released=True
    )
    parser.add_argument(
        "--output-as-csv",
        action="store_true",
        dest="output_as_csv",
        help="also write the completed file as prompto's CSV",
    )
    args = parser.parse_args(argv)
    return exit_status("prompto_run_experiment", lambda: _run_experiment(args))


def _run_experiment(args: argparse.Namespace) -> int:
    stages = stage_overrides(args)
    file = _experiment_file(args)
    overrides = [override("experiment.file", file), *stages, *prompto_file_overrides(args, file)]
    overrides += settings_overrides(args)
    sys.argv = [sys.argv[0], *overrides]
    return _prompto_run.run_main()  # its own mistakes are prompto-run's, and said so


def run_pipeline_main(argv: Sequence[str] | None = None) -> int:
    """``prompto_run_pipeline``: prompto's flags, then ``prompto-pipeline``."""
    parser = _parser("prompto_run_pipeline", "Watch DATA_FOLDER/input/ (prompto's flags).", with_file=False)
    parser.add_argument("--once", action="store_true", help="process what input/ holds, then exit")
    args = parser.parse_args(argv)
    once = ["--once"] if args.once else []
    return exit_status(
        "prompto_run_pipeline",
        lambda: pipeline_main([*once, *pipeline_file_overrides(), *settings_overrides(args)]),
    )


def check_experiment_main(argv: Sequence[str] | None = None) -> int:
    """``prompto_check_experiment``: prompto's flags, then ``prompto-check``; ``--log-file`` keeps it."""
    parser = _parser(
        "prompto_check_experiment", "Check an experiment file (prompto's flags).", with_file=True
    )
    parser.add_argument("--log-file", "-l", type=Path, help="also append the report to this file")
    args = parser.parse_args(argv)
    return exit_status("prompto_check_experiment", lambda: _check_experiment(args))


def _check_experiment(args: argparse.Namespace) -> int:
    move, args.move_to_input = args.move_to_input, False  # prompto moves only a valid file
    try:
        overrides = [
            override("experiment.file", args.file),
            *stage_overrides(args),
            *settings_overrides(args),
        ]
        text, runnable = check_text(overrides)
        if runnable and move:
            args.move_to_input = True
            _experiment_file(args)
            text += f"\nmoved {args.file} to {Path(args.data_folder or PROMPTO_DATA_FOLDER) / 'input'}/"
    except UserError as exc:
        _append_to_log(args.log_file, f"prompto_check_experiment: {exc}")  # and re-raised: printed once
        raise
    _append_to_log(args.log_file, text)
    return print_check(text, runnable)


def _append_to_log(log_file: Path | None, text: str) -> None:
    if log_file is not None:
        with log_file.open("a", encoding="utf-8") as log:
            log.write(text + "\n")


def run_experiment() -> None:
    """Entry point of ``prompto_run_experiment``."""
    sys.exit(run_experiment_main())


def run_pipeline() -> None:
    """Entry point of ``prompto_run_pipeline``."""
    sys.exit(run_pipeline_main())


def check_experiment() -> None:
    """Entry point of ``prompto_check_experiment``."""
    sys.exit(check_experiment_main())

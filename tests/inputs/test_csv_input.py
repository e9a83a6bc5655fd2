"""Prompt files as spreadsheets and editors save them: Excel's byte order mark, quotes left open,
hostile JSON in parameter cells."""

from __future__ import annotations

from pathlib import Path

import pytest

from tests.fakes import FakeServer
from tests.inputs.installed import (
    SIZE,
    assert_refused,
    command,
    completed_records,
    many,
    vision_model,
)


def csv_rows(count: int = SIZE, *, simulated: bool = True) -> list[str]:
    """A header and ``count`` rows, for the simulated api (else for the model config's)."""
    if not simulated:
        return ["id,prompt"] + [f"{i},prompt {i}" for i in range(count)]
    return ["id,prompt,api,model_name"] + [f"{i},prompt {i},simulated,m" for i in range(count)]


@pytest.mark.slow
def test_a_csv_with_excels_byte_order_mark_keeps_its_ids(project: Path) -> None:
    path = project / "data" / "input" / "excel.csv"
    path.write_text("\r\n".join(csv_rows()) + "\r\n", encoding="utf-8-sig")  # Excel's "CSV UTF-8"
    fast = ["max_queries=600000", "progress.mode=off", "env_file=null"]

    run = command("prompto-run", "experiment.file=excel.csv", *fast, cwd=project)

    assert run.returncode == 0, run.stderr
    assert sorted(int(record["id"]) for record in completed_records(project)) == list(range(SIZE))


@pytest.mark.slow
def test_an_unterminated_quote_in_a_csv_is_named_not_swallowing_the_rows_after_it(
    project: Path, vision_server: FakeServer
) -> None:
    rows = csv_rows(simulated=False)
    rows[1_001] = '1000,"an open quote'  # line 1002: the rest of the file would be its cell
    (project / "data" / "input" / "open.csv").write_text("\n".join(rows) + "\n")
    args = ["experiment.file=open.csv", *vision_model(vision_server)]

    run = command("prompto-run", *args, cwd=project)
    check = command("prompto-check", *args, cwd=project)

    for result in (run, check):
        assert_refused(
            result,
            "1 problem(s)",
            "line 1002: a quoted cell opened in this row is never closed "
            f"(the file ends inside it, at line {SIZE + 1})",
        )
    assert vision_server.requests == []


def test_a_quote_closed_lines_later_is_named_and_the_rows_after_it_still_checked(
    project: Path,
) -> None:
    rows = csv_rows(10)
    rows[3] = '2,"opens here,simulated,m'
    rows[5] = '4,closes" here,simulated,m'  # the quote closes here, then text: broken quoting
    rows[8] = "7,prompt 7,simulated"  # a later bad row: still found
    (project / "data" / "input" / "quotes.csv").write_text("\n".join(rows) + "\n")

    check = command("prompto-check", "experiment.file=quotes.csv", "env_file=null", cwd=project)

    assert_refused(
        check,
        "2 problem(s)",
        "line 4: broken CSV quoting: ',' expected after '\"' (the row runs to line 6: is a quote left open?)",
        "line 9: row has 3 cells but the header has 4",
    )


def test_hostile_json_in_csv_parameter_cells_is_a_problem_of_its_line(project: Path) -> None:
    lines = [
        "id,prompt,api,model_name,parameters-seed,parameters",
        "1,ok,simulated,m,3,",
        "2,x,simulated,m," + "9" * 5_000 + ",",
        '3,x,simulated,m,,"{""t"": NaN}"',
        "4,x,simulated,m,Infinity,",
    ]
    (project / "data" / "input" / "cells.csv").write_text("\n".join(lines) + "\n")

    check = command("prompto-check", "experiment.file=cells.csv", "env_file=null", cwd=project)

    assert_refused(
        check,
        "3 problem(s)",
        "line 3: the 'parameters-seed' cell: a number has more than 4,300 digits",
        "line 4: the 'parameters' cell: NaN is not a number JSON allows",
        "line 5: the 'parameters-seed' cell: Infinity is not a number JSON allows",
    )


def test_a_jsonl_file_saved_with_a_byte_order_mark_reads_its_first_line(project: Path) -> None:
    path = project / "data" / "input" / "notepad.jsonl"
    path.write_text("\n".join(many(3)) + "\n", encoding="utf-8-sig")

    check = command("prompto-check", "experiment.file=notepad.jsonl", "env_file=null", cwd=project)

    assert check.returncode == 0, check.stderr
    assert "runnable, 3 prompts" in check.stdout

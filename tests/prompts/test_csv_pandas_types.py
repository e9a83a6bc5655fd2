"""CSV values are typed as prompto types them: prompto reads CSV with ``pandas.read_csv``.

The comparison runs pandas itself: in this environment if it has pandas, else in the one
``PROMPTO_REFERENCE`` names (the ``bin/`` of an environment with prompto 0.2.1, which depends on
pandas); skipped when neither has it.
"""

from __future__ import annotations

import importlib.util
import json
import math
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest

from runner.prompts._prompt_file import read_prompt_lines
from tests.cli.prompto_reference import reference_bin

CSV = (
    "id,prompt,api,model_name,score,ratio,flag,label,big,note,blank,parameters-max_tokens,parameters-temperature\n"
    '0,"Hello, world",simulated,m,1,1.5,true,x,9223372036854775808,NA,,5,0.5\n'
    "1,second,simulated,m,,2,False,1,1,None,,,1\n"
    "2,third,simulated,m,3, 3 ,TRUE,2,2,kept,,7,\n"
    "3,4,simulated,m,4,1e3,false,3,3,null,,8,0.25\n"
)
PANDAS_RECORDS = """
import json, math, sys
import pandas as pd
frame = pd.read_csv(sys.argv[1])
rows = [
    {k: v for k, v in row.items() if not (isinstance(v, float) and math.isnan(v))}
    for row in frame.to_dict(orient="records")
]
print(json.dumps(rows))
"""


def _python_with_pandas() -> str:
    if importlib.util.find_spec("pandas") is not None:
        return sys.executable
    reference = reference_bin()
    if reference and (Path(reference) / "python").is_file():
        return str(Path(reference) / "python")
    pytest.skip("pandas is not installed here, and PROMPTO_REFERENCE names no environment with it")


def _ours(path: Path) -> list[dict[str, Any]]:
    return [line.data for line in read_prompt_lines(path) if line.data is not None]


def test_columns_are_typed_as_pandas_types_them(tmp_path: Path) -> None:
    path = tmp_path / "exp.csv"
    path.write_text(CSV)
    python = _python_with_pandas()

    result = subprocess.run(
        [python, "-c", PANDAS_RECORDS, str(path)], capture_output=True, text=True, check=True
    )
    theirs = json.loads(result.stdout)

    ours = _ours(path)
    for mine, pandas_row in zip(ours, theirs, strict=True):
        parameters = mine.pop("parameters", {})
        their_parameters = {
            key.removeprefix("parameters-"): pandas_row.pop(key)
            for key in list(pandas_row)
            if "parameters-" in key
        }
        pandas_row["prompt"] = str(pandas_row["prompt"])  # the prompt stays text here
        assert mine == pandas_row
        assert {type(value) for value in mine.values()} <= {int, float, bool, str}
        # parameters: pandas' values, except that an int column with gaps keeps ints
        assert parameters.keys() == their_parameters.keys()
        for key, value in parameters.items():
            assert value == their_parameters[key]
            assert not isinstance(value, float) or not math.isnan(value)


def test_an_id_of_0_is_the_number_0_and_missing_cells_are_absent(tmp_path: Path) -> None:
    path = tmp_path / "exp.csv"
    path.write_text(CSV)

    first, second, third, fourth = _ours(path)

    assert first["id"] == 0
    assert type(first["id"]) is int
    assert (first["score"], second["ratio"], third["ratio"]) == (1.0, 2.0, 3.0)
    assert type(first["score"]) is float  # an int column with a missing cell: pandas' floats
    assert (first["flag"], second["flag"], third["flag"], fourth["flag"]) == (True, False, True, False)
    assert first["label"] == "x"
    assert second["label"] == "1"
    assert first["big"] == 2**63  # uint64, as pandas reads it
    assert "note" not in first
    assert "note" not in second
    assert third["note"] == "kept"
    assert all("blank" not in row for row in (first, second, third, fourth))
    assert fourth["prompt"] == "4"
    assert first["parameters"] == {"max_tokens": 5, "temperature": 0.5}
    assert second["parameters"] == {"temperature": 1.0}
    assert type(third["parameters"]["max_tokens"]) is int

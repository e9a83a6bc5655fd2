"""The one ``_target_`` importer: both forms, a user's package in the working directory, and errors
that name the target and where it was looked for. The runs from the installed command, in a user's
folder, are tests/cli/test_user_modules.py."""

from __future__ import annotations

import sys
from collections.abc import Iterator
from pathlib import Path

import pytest

from providers import TargetImportError, import_object


@pytest.fixture
def project(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[Path]:
    """The working directory, not on the import path (as under a console script)."""
    monkeypatch.chdir(tmp_path)
    monkeypatch.setattr(sys, "path", [p for p in sys.path if p not in ("", str(tmp_path))])
    before = set(sys.modules)
    yield tmp_path
    for name in set(sys.modules) - before:
        del sys.modules[name]


@pytest.mark.parametrize("target", ["users_pkg_xyz.scoring.loud", "users_pkg_xyz.scoring:loud"])
def test_a_package_in_the_working_directory_is_found_in_either_form(project: Path, target: str) -> None:
    (project / "users_pkg_xyz").mkdir()
    (project / "users_pkg_xyz" / "__init__.py").write_text("")
    (project / "users_pkg_xyz" / "helpers.py").write_text("def upper(text):\n    return text.upper()\n")
    # It imports its neighbour as it would under `python script.py`.
    (project / "users_pkg_xyz" / "scoring.py").write_text(
        "from users_pkg_xyz.helpers import upper\nloud = upper\n"
    )

    loud = import_object(target)

    assert callable(loud)
    assert loud("paris") == "PARIS"


def test_an_installed_module_wins_over_one_of_the_same_name_in_the_working_directory(project: Path) -> None:
    (project / "colorsys.py").write_text("rgb_to_hls = 'shadowed'\n")
    sys.modules.pop("colorsys", None)

    assert callable(import_object("colorsys.rgb_to_hls"))
    assert str(project) not in sys.path


@pytest.mark.parametrize(
    ("module", "target", "message"),
    [
        (
            "raise RuntimeError('no key')\n",
            "users_raises_xyz.f",
            "'users_raises_xyz.f': importing module 'users_raises_xyz' raised RuntimeError: no key",
        ),
        (
            "import users_missing_dependency_xyz\n",
            "users_needs_xyz.f",
            "'users_needs_xyz.f': importing module 'users_needs_xyz' failed: "
            "No module named 'users_missing_dependency_xyz'",
        ),
        (
            "",
            "users_empty_xyz.users_empty_xyz",
            "module 'users_empty_xyz' ({project}/users_empty_xyz.py) has no",
        ),
        (None, "users_nothing_xyz", "'users_nothing_xyz' is not an import path of the form module.Name"),
        (
            None,
            "not_anywhere_xyz.f",
            "No module named 'not_anywhere_xyz' (looked on the import path and in the",
        ),
    ],
    ids=["raises", "missing-dependency", "no-attribute", "no-dot", "nowhere"],
)
def test_a_target_that_cannot_be_imported_is_named_with_the_reason(
    project: Path, module: str | None, target: str, message: str
) -> None:
    if module is not None:
        (project / f"{target.split('.')[0]}.py").write_text(module)

    with pytest.raises(TargetImportError) as raised:
        import_object(target)

    assert message.format(project=project) in str(raised.value)

"""The one importer for ``_target_``: a user's provider, scorer or judge's provider, by import path.

A target is ``pkg.module.Name`` or ``pkg.module:Name``. Its module is looked up on the import path
first, then in the working directory, as the README promises for a user's own ``./my_provider.py``
or ``./my_package/``: a console script's import path does not hold the working directory, unlike
``python -m`` or ``python script.py``.

When the module is found only in the working directory, that directory is appended to ``sys.path``
for the rest of the process, so that the user's module can import its neighbours (at import time
or later, in a function) as it would under ``python script.py``. Appended, it never shadows an
installed package or the standard library; runs that name no user module leave the path alone.
"""

from __future__ import annotations

import importlib
import sys
from importlib.machinery import PathFinder
from pathlib import Path
from types import ModuleType


class TargetImportError(ImportError):
    """A ``_target_`` cannot be imported: the message names the target and where it was looked for."""


def import_object(target: str) -> object:
    """The object ``target`` names (``pkg.module.Name`` or ``pkg.module:Name``)."""
    module_name, attribute = _split(target)
    module = _import_module(target, module_name)
    try:
        return getattr(module, attribute)
    except AttributeError:
        where = getattr(module, "__file__", None) or module_name
        raise TargetImportError(
            f"'{target}': module '{module_name}' ({where}) has no '{attribute}'"
        ) from None


def _split(target: str) -> tuple[str, str]:
    if ":" in target:
        module_name, _, attribute = target.partition(":")
    else:
        module_name, _, attribute = target.rpartition(".")
    if not module_name or not attribute.isidentifier():
        raise TargetImportError(f"'{target}' is not an import path of the form module.Name or module:Name")
    return module_name, attribute


def _import_module(target: str, module_name: str) -> ModuleType:
    try:
        return _run_import(target, module_name)
    except ModuleNotFoundError as exc:
        missing, top = exc.name, module_name.partition(".")[0]
        if missing != top:  # its package was found: the module is not in it
            raise TargetImportError(f"'{target}': No module named '{missing}'") from None
        working_directory = str(Path.cwd())
        if PathFinder.find_spec(top, [working_directory]) is None:
            raise TargetImportError(
                f"'{target}': No module named '{top}' (looked on the import path "
                f"and in the working directory {working_directory})"
            ) from None
    sys.path.append(working_directory)
    try:
        return _run_import(target, module_name)
    except ModuleNotFoundError as exc:
        raise TargetImportError(f"'{target}': No module named '{exc.name}' in {working_directory}") from None


def _run_import(target: str, module_name: str) -> ModuleType:
    """Import the module; a missing module is the caller's to explain, any other failure is the target's."""
    try:
        return importlib.import_module(module_name)
    except ModuleNotFoundError as exc:
        if exc.name is not None and (module_name + ".").startswith(exc.name + "."):
            raise  # the target's own module (or a parent package) is missing
        raise TargetImportError(f"'{target}': importing module '{module_name}' failed: {exc}") from exc
    except Exception as exc:  # a user's module that raises on import is a config mistake, not a crash
        raise TargetImportError(
            f"'{target}': importing module '{module_name}' raised {type(exc).__name__}: {exc}"
        ) from exc

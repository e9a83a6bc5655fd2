"""How every command ends on a mistake the user can fix: the one place that decides its exit status.

Every console script runs its work through :func:`exit_status`. A :class:`~runner.config._errors.UserError`
is printed once, as ``<prog>: <message>`` on stderr, and gives ``ExitStatus.USER_ERROR`` (2); a run
folder that cannot be written gives ``ExitStatus.OUTPUTS_UNWRITABLE`` (5). Anything else is a bug and
keeps its traceback.
"""

from __future__ import annotations

import sys
from collections.abc import Callable

from runner._run import OutputsUnwritable
from runner.config._errors import UserError
from runner.results._exit_status import ExitStatus

NOTHING_SENT = "Nothing was sent."
"""What a run's or a re-score's refusal adds: no model was asked anything."""


def exit_status(prog: str, command: Callable[[], int], *, aftermath: str | None = None) -> int:
    """``command()``'s status, or the status of the user error it raised once printed.

    ``aftermath`` follows a user error's message on its own line (``Nothing was sent.``).
    """
    try:
        return command()
    except UserError as exc:
        print(f"{prog}: {exc}" + (f"\n{aftermath}" if aftermath else ""), file=sys.stderr)
        return int(ExitStatus.USER_ERROR)
    except OutputsUnwritable as exc:
        print(f"{prog}: {exc}", file=sys.stderr)
        return int(ExitStatus.OUTPUTS_UNWRITABLE)

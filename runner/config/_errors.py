"""The one base class of every mistake a user can make, so that every command treats them alike.

A config key, a prompt file, a busy or changed run folder, a missing extra, a folder given to
``prompto-report``, ``prompto-export`` or ``prompto-merge``: each error derives from :class:`UserError`,
and every command prints it once and exits with status 2 (:mod:`runner.cli._exit`). It lives in the
lowest layer because every step raises one.
"""

from __future__ import annotations


class UserError(Exception):
    """A mistake the user can fix; the message says how."""

"""One error type for everything a user can get wrong.

Every user-facing failure is an `EvalkitError` whose message is one line:
``<file>: <problem>``. The CLI prints it and exits non-zero; the pytest
plugin turns it into a usage error or an error item. Nothing else in
evalkit should print tracebacks for bad input.
"""

from __future__ import annotations

import os

from evalkit.terminal_text import printable

# Exit codes of every evalkit command (README "Exit codes"); pytest's own for the gate.
EXIT_OK = 0
EXIT_FAILED = 1  # some input failed (as pytest's "tests failed")
EXIT_USAGE = 4  # bad command line or bad input file (pytest's usage error)
EXIT_INTERRUPTED = 2  # Ctrl-C (pytest's "interrupted")


class EvalkitError(Exception):
    """A one-line, user-facing error about one file (or one setting)."""

    def __init__(self, where: str | os.PathLike | None, problem: str):
        self.where = os.fspath(where) if where is not None else None
        # Keep the message on one line whatever the problem text holds, and its control
        # characters (a file name with ESC in it) shown as escapes, never sent to a terminal raw.
        self.problem = printable(" ".join(str(problem).split()))
        shown = printable(self.where) if self.where is not None else None
        super().__init__(f"{shown}: {self.problem}" if shown else self.problem)


def why_missing(path: str | os.PathLike, default: str = "no such file") -> str:
    """Why ``path`` cannot be found: a symlink loop or a dangling link said as such, else ``default``."""
    if os.path.islink(path):
        try:
            os.stat(path)
        except OSError as exc:
            import errno

            if exc.errno == errno.ELOOP:
                return "is a symlink loop"
            return f"is a broken symlink (to {os.readlink(path)})"
    return default

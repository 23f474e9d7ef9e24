"""One error type for everything a user can get wrong.

Every user-facing failure is an `EvalkitError` whose message is one line:
``<file>: <problem>``. The CLI prints it and exits non-zero; the pytest
plugin turns it into a usage error or an error item. Nothing else in
evalkit should print tracebacks for bad input.
"""

from __future__ import annotations

import os

# Exit codes of every evalkit command (README "Exit codes"); pytest's own for the gate.
EXIT_OK = 0
EXIT_FAILED = 1  # some input failed (as pytest's "tests failed")
EXIT_USAGE = 4  # bad command line or bad input file (pytest's usage error)


class EvalkitError(Exception):
    """A one-line, user-facing error about one file (or one setting)."""

    def __init__(self, where: str | os.PathLike | None, problem: str):
        self.where = os.fspath(where) if where is not None else None
        # Keep the message on one line whatever the problem text holds.
        self.problem = " ".join(str(problem).split())
        super().__init__(f"{self.where}: {self.problem}" if self.where else self.problem)

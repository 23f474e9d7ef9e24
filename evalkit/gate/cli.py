"""`evalkit gate [pytest args]`: the gate (`pytest evalkit`) from any folder, evalkit installed anywhere.

It collects the installed package's evaluation by its path, so it never depends
on a folder named ``evalkit`` in the current one, and runs with the current
folder as pytest's rootdir: its ``evalkit.toml`` (thresholds, ``[gate]``
settings) applies and ``./reports`` is the default reports folder. Every
argument is pytest's; the exit code is pytest's.
"""

from __future__ import annotations

import argparse
from pathlib import Path


def register(sub) -> None:
    # prefix_chars no argument starts with: every argument, `--help` too, is handed to pytest untouched.
    p = sub.add_parser("gate", prefix_chars="\x00", add_help=False,
                       help="run the gate (pytest evalkit) from this folder: evalkit gate --checkpoint FILE [pytest options]")
    p.add_argument("pytest_args", nargs=argparse.REMAINDER, help="pytest and gate options (evalkit gate --help)")
    p.set_defaults(func=run)


def gate_args(pytest_args: list[str], cwd: Path) -> list[str]:
    import evalkit

    return [str(Path(evalkit.__file__).resolve().parent), f"--rootdir={cwd}", *pytest_args]


def run(args) -> int:
    import pytest

    return int(pytest.main(gate_args(args.pytest_args, Path.cwd())))

"""The `evalkit` console command.

Each stage registers its own subcommand from its own folder (``cli.py`` with
``register(subparsers)``), so the code for a step lives beside the step.
"""

from __future__ import annotations

import argparse
import importlib
import sys

from evalkit import __version__
from evalkit.errors import EXIT_FAILED, EXIT_INTERRUPTED, EXIT_OK, EXIT_USAGE, EvalkitError

# Subcommand modules in the order of the data path (the gate runs as pytest); a module
# that does not exist yet is simply not offered.
SUBCOMMAND_MODULES = [
    "evalkit.golden.cli",  # init
    "evalkit.inspect.cli",
    "evalkit.render.cli",
    "evalkit.score.cli",
    "evalkit.store.cli",  # evalkit rate (issue 20)
    "evalkit.compare.cli",
    "evalkit.report.cli",
    "evalkit.sync.cli",
    "evalkit.gate.cli",  # gate: pytest evalkit from any folder
]

__all__ = ["EXIT_FAILED", "EXIT_OK", "EXIT_USAGE", "build_parser", "main"]


class Parser(argparse.ArgumentParser):
    """argparse, with a bad command line exiting EXIT_USAGE (4, pytest's usage error) rather than its own 2,
    which is pytest's "interrupted"; every subcommand's parser is one of these."""

    def error(self, message: str):
        self.print_usage(sys.stderr)
        self.exit(EXIT_USAGE, f"{self.prog}: error: {message}\n")


def build_parser() -> argparse.ArgumentParser:
    parser = Parser(
        prog="evalkit",
        description=(
            "Evaluate pixel-art punk LoRAs for Stable Diffusion 1.5 / SDXL: inspect "
            "checkpoints, render a fixed-seed prompt suite, recover the 24x24 grid and "
            "score it against golden punks. The gate itself runs as "
            "`pytest evalkit --checkpoint FILE`."
        ),
    )
    parser.add_argument("--version", action="version", version=f"evalkit {__version__}")
    sub = parser.add_subparsers(dest="command", metavar="COMMAND")
    for name in SUBCOMMAND_MODULES:
        try:
            module = importlib.import_module(name)
        except ModuleNotFoundError as exc:
            if exc.name == name:
                continue
            raise
        module.register(sub)
    return parser


def main(argv: list[str] | None = None) -> int:
    parser = build_parser()
    args = parser.parse_args(argv)
    if not getattr(args, "func", None):
        parser.print_help()
        return EXIT_USAGE
    try:
        return int(args.func(args) or 0)
    except EvalkitError as exc:
        print(f"evalkit {args.command}: error: {exc}", file=sys.stderr)
        return EXIT_USAGE
    except KeyboardInterrupt:
        print(f"evalkit {args.command}: interrupted", file=sys.stderr)
        return EXIT_INTERRUPTED
    except BrokenPipeError:  # `evalkit score --json | head`: the reader left, not an error of ours
        sys.stderr.close()
        return 0


if __name__ == "__main__":
    sys.exit(main())

"""`evalkit inspect FILE... [--json]`."""

from __future__ import annotations

import argparse
import json
import sys

from evalkit.errors import EXIT_OK, EXIT_USAGE, EvalkitError
from evalkit.inspect.api import inspect_checkpoint
from evalkit.inspect.summary import format_summary


def register(subparsers: argparse._SubParsersAction) -> None:
    parser = subparsers.add_parser(
        "inspect",
        help="Read LoRA checkpoints' headers: format, base model, rank/alpha, training settings, captions, health.",
        description=(
            "Inspect LoRA checkpoints (.safetensors) without loading any model: format, base architecture, "
            "rank/alpha, training provenance from the ss_* metadata, caption fingerprint, hashes and tensor "
            "health. Every file is inspected even when another fails; the exit status is 4 if any failed."
        ),
    )
    parser.add_argument("files", nargs="+", metavar="FILE", help="LoRA checkpoint(s) to inspect.")
    parser.add_argument(
        "--json", action="store_true",
        help="Print a JSON list, one object per file (schema in the README); failed files as {file, error}.",
    )
    parser.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
    records: list[dict] = []
    failed = False
    for number, path in enumerate(args.files):
        try:
            info = inspect_checkpoint(path)
        except EvalkitError as exc:
            failed = True
            print(f"evalkit inspect: error: {exc}", file=sys.stderr)
            records.append({"file": path, "error": exc.problem})
            continue
        if args.json:
            records.append(info.to_dict())
        else:
            print(("\n" if number else "") + format_summary(info))
    if args.json:
        print(json.dumps(records, indent=2, allow_nan=False, ensure_ascii=False))
    sys.stdout.flush()
    return EXIT_USAGE if failed else EXIT_OK  # a bad input file, as the main's one-line errors

"""`evalkit compare`: which setting made which difference, over the runs in the score store.

    evalkit compare [--reports-dir reports] [--run RUN_ID ...] [--checkpoint NAME ...] [--json]
    evalkit compare --name-captions FINGERPRINT LABEL

Exit status 0 when the attribution was written (also for a single run: a
one-line note), 4 for bad input (no store, runs of different prompt suites
or golden sets, a bad fingerprint or label).
"""

from __future__ import annotations

import json
import sys
from pathlib import Path


def register(subparsers) -> None:
    from evalkit.paths import add_reports_dir_option

    p = subparsers.add_parser(
        "compare",
        help="attribute score differences between training runs to their settings (score store)",
        description=(
            "For every setting that differs between the scored checkpoints (base, network_dim, alpha/dim, "
            "caption version, learning rates, epochs, steps, any other ss_* key): its effect on quality and on "
            "each metric with a bootstrap interval over renders, or the settings it is confounded with, and the "
            "next runs that would separate them. Uses the newest evaluation of each checkpoint in the store."
        ),
    )
    add_reports_dir_option(p)
    p.add_argument("--run", action="append", default=[], metavar="RUN_ID", help="only checkpoints of this gate run (repeatable)")
    p.add_argument("--checkpoint", action="append", default=[], metavar="NAME",
                   help="only this checkpoint (file stem or sha256 prefix of 12; repeatable)")
    p.add_argument("--json", action="store_true", help="write the attribution as JSON (schema in README)")
    p.add_argument("--level", type=float, default=0.95, metavar="P", help="interval level (default %(default)s)")
    p.add_argument("--resamples", type=int, default=2000, metavar="N", help="bootstrap resamples (default %(default)s)")
    p.add_argument("--name-captions", nargs=2, metavar=("FINGERPRINT", "LABEL"),
                   help="name a caption fingerprint (tags-<hex> or a hex prefix) once, e.g. 'new captions'")
    p.set_defaults(func=run)


def run(args) -> int:
    from evalkit.compare.api import compare_store
    from evalkit.compare.captions import name_captions
    from evalkit.compare.text import summary_lines, terminal_text
    from evalkit.errors import EvalkitError

    reports_dir = Path(args.reports_dir)
    if args.name_captions:
        if not (reports_dir / "evalkit.sqlite").is_file():
            raise EvalkitError(reports_dir / "evalkit.sqlite", "no score store here (run the gate first)")
        fingerprint, label = name_captions(reports_dir, *args.name_captions)
        print(f"captions tags-{fingerprint[:12]} are now called {terminal_text(label)!r}")
        return 0
    if not 0.5 <= args.level < 1:
        raise EvalkitError(None, f"--level {args.level} must be at least 0.5 and below 1")
    if args.resamples < 100:
        raise EvalkitError(None, f"--resamples {args.resamples} must be at least 100")
    result = compare_store(reports_dir, rootdir=Path.cwd(), run_ids=args.run or None,
                           checkpoints=args.checkpoint or None, level=args.level, resamples=args.resamples)
    if args.json:
        json.dump(result.to_dict(), sys.stdout, indent=1, sort_keys=False)
        sys.stdout.write("\n")
    else:
        for line in summary_lines(result):
            print(line)
    return 0

"""Run the bad-input attack of issue 22 and write what it found.

    PYTHONPATH=. python -m tests.attack.run_attack --out reports/attack.json [--only CATEGORY] [--case NAME]

Prints one line per case that is not clean and the totals per kind (traceback, raw_escape, exit,
timeout, mislabelled, lost, pickle, unnamed); exits 1 when any case is not clean.
"""

from __future__ import annotations

import argparse
import json
import sys
import tempfile
import time
from collections import Counter
from pathlib import Path

from .cases import CASES, CATEGORIES
from .harness import KINDS, Workspace, run_case
from .servers import SERVERS


def select(only: list[str] | None, names: list[str] | None):
    chosen = [c for c in CASES if (not only or c.category in only) and (not names or c.name in names)]
    return sorted(chosen, key=lambda c: CATEGORIES.index(c.category))


def attack(cases, workdir: Path, progress=None) -> dict:
    ws = Workspace(workdir)
    start, verdicts = time.monotonic(), []
    try:
        for i, case in enumerate(cases, 1):
            verdict = run_case(case, ws)
            verdicts.append(verdict)
            if progress:
                state = "ok" if not verdict.problems else ",".join(sorted({k for k, _ in verdict.problems}))
                progress(f"[{i}/{len(cases)}] {case.category}/{case.name}: {state} ({verdict.seconds:.1f} s)")
    finally:
        SERVERS.close()
    totals = Counter(kind for v in verdicts for kind in {k for k, _ in v.problems})
    return {
        "cases": len(verdicts),
        "clean": sum(not v.problems for v in verdicts),
        "per_category": dict(Counter(v.category for v in verdicts)),
        "totals": {kind: totals.get(kind, 0) for kind in (*KINDS, "harness")},
        "seconds": round(time.monotonic() - start, 1),
        "base_seconds": round(ws.base_seconds, 1),
        "results": [v.to_dict() for v in verdicts],
    }


def summary_lines(result: dict) -> list[str]:
    lines = [f"{r['category']}/{r['name']}: " + "; ".join(f"{p['kind']}: {p['detail']}" for p in r["problems"])
             for r in result["results"] if not r["clean"]]
    totals = ", ".join(f"{k} {v}" for k, v in result["totals"].items())
    lines.append(f"{result['clean']}/{result['cases']} cases clean in {result['seconds']:.0f} s; {totals}")
    return lines


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(prog="python -m tests.attack.run_attack", description=__doc__.split("\n")[0])
    parser.add_argument("--out", type=Path, default=Path("reports/attack.json"))
    parser.add_argument("--only", action="append", choices=CATEGORIES, help="run one category (repeatable)")
    parser.add_argument("--case", action="append", help="run one case by name (repeatable)")
    parser.add_argument("--workdir", type=Path, help="where the bad inputs are built (default: a temp folder)")
    parser.add_argument("--quiet", action="store_true", help="no per-case progress line")
    args = parser.parse_args(argv)
    cases = select(args.only, args.case)
    if not cases:
        parser.error("no case selected")
    log = None if args.quiet else (lambda line: print(line.encode("unicode_escape").decode("ascii")
                                                       if not line.isprintable() else line, flush=True))
    if args.workdir:
        result = attack(cases, args.workdir, log)
    else:
        with tempfile.TemporaryDirectory(prefix="evalkit-attack-") as tmp:
            result = attack(cases, Path(tmp), log)
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_text(json.dumps(result, indent=1, ensure_ascii=True) + "\n")
    for line in summary_lines(result):
        print(line.encode("unicode_escape").decode("ascii") if not line.isprintable() else line)
    print(f"written: {args.out}")
    return 0 if result["clean"] == result["cases"] else 1


if __name__ == "__main__":
    sys.exit(main())

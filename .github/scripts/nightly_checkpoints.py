#!/usr/bin/env python3
"""Which checkpoints the nightly gate evaluates, and remembering which it did.

    nightly_checkpoints.py new  --dir DIR [--dir DIR ...] --state STATE.json --out LIST.txt [--only "A B"]
    nightly_checkpoints.py mark --state STATE.json --render-json RENDER.jsonl

A checkpoint is new when its content (sha256) has never been evaluated: a
file that was renamed is not new, a file overwritten by a retraining is.
`new` lists every ``*.safetensors`` directly inside each DIR (not in
subfolders, as ``--checkpoint-dir``) whose sha256 is not in STATE, leaving
out files modified in the last ``--settle-minutes`` (a trainer may still be
writing them: they are picked up the next night). `mark` records the
checkpoints that `evalkit render --json` rendered without error; the workflow
calls it only when the gate reached verdicts (exit 0 or 1), so a night that
broke before the verdicts retries the same checkpoints. STATE also keeps each
file's size, mtime and sha256, so unchanged files are not hashed again.

Standard library only: it runs before evalkit is installed.
"""

from __future__ import annotations

import argparse
import hashlib
import json
import os
import sys
import time
from datetime import datetime, timezone
from pathlib import Path


def load_state(path: Path) -> dict:
    if not path.is_file():
        return {"evaluated": {}, "hashes": {}}
    try:
        state = json.loads(path.read_text(encoding="utf-8"))
        return {"evaluated": dict(state["evaluated"]), "hashes": dict(state.get("hashes", {}))}
    except (ValueError, KeyError, TypeError) as exc:
        raise SystemExit(f"nightly_checkpoints: error: {path}: not a nightly state file ({exc})") from None


def save_state(path: Path, state: dict) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(path.name + ".tmp")
    tmp.write_text(json.dumps(state, indent=1, sort_keys=True), encoding="utf-8")
    os.replace(tmp, path)  # a killed job never leaves half a state file


def sha256_of(path: Path, state: dict) -> str:
    st = path.stat()
    key = str(path.resolve())
    seen = state["hashes"].get(key)
    if seen and seen["size"] == st.st_size and seen["mtime_ns"] == st.st_mtime_ns:
        return seen["sha256"]
    h = hashlib.sha256()
    with path.open("rb") as f:
        for block in iter(lambda: f.read(1 << 20), b""):
            h.update(block)
    state["hashes"][key] = {"size": st.st_size, "mtime_ns": st.st_mtime_ns, "sha256": h.hexdigest()}
    return h.hexdigest()


def new_checkpoints(dirs: list[Path], state: dict, settle_s: float, now: float) -> list[Path]:
    found = []
    for d in dirs:
        if not d.is_dir():
            raise SystemExit(f"nightly_checkpoints: error: {d}: checkpoint folder does not exist")
        for path in sorted(d.glob("*.safetensors")):
            if path.is_file() and now - path.stat().st_mtime >= settle_s and sha256_of(path, state) not in state["evaluated"]:
                found.append(path)
    return found


def cmd_new(args) -> int:
    state = load_state(args.state)
    if args.only.strip():  # a manual run: exactly these files, evaluated or not
        files = [Path(p) for p in args.only.split()]
        missing = [p for p in files if not p.is_file()]
        if missing:
            raise SystemExit(f"nightly_checkpoints: error: {missing[0]}: no such checkpoint")
    else:
        files = new_checkpoints(args.dir, state, args.settle_minutes * 60, time.time())
        save_state(args.state, state)  # keep the hashes computed
    args.out.write_text("".join(f"{p}\n" for p in files), encoding="utf-8")
    print(f"{len(files)} checkpoint(s) to evaluate" + "".join(f"\n  {p}" for p in files))
    if os.environ.get("GITHUB_OUTPUT"):
        with open(os.environ["GITHUB_OUTPUT"], "a", encoding="utf-8") as out:
            out.write(f"count={len(files)}\n")
    return 0


def cmd_mark(args) -> int:
    state = load_state(args.state)
    marked = 0
    for line in args.render_json.read_text(encoding="utf-8").splitlines():
        row = json.loads(line) if line.startswith("{") else {}
        if row.get("checkpoint") and not row.get("error") and Path(row["checkpoint"]).is_file():
            path = Path(row["checkpoint"])
            at = datetime.now(timezone.utc).isoformat(timespec="seconds")
            state["evaluated"][sha256_of(path, state)] = {"path": str(path), "at": at}
            marked += 1
    save_state(args.state, state)
    print(f"{marked} checkpoint(s) recorded as evaluated in {args.state}")
    return 0


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    sub = ap.add_subparsers(dest="command", required=True)
    new = sub.add_parser("new", help="list the checkpoints not evaluated yet")
    new.add_argument("--dir", type=Path, action="append", default=[], required=True)
    new.add_argument("--state", type=Path, required=True)
    new.add_argument("--out", type=Path, required=True)
    new.add_argument("--only", default="", help="whitespace-separated files to evaluate instead (manual runs)")
    new.add_argument("--settle-minutes", type=float, default=10.0)
    new.set_defaults(func=cmd_new)
    mark = sub.add_parser("mark", help="record the checkpoints a render rendered without error")
    mark.add_argument("--state", type=Path, required=True)
    mark.add_argument("--render-json", type=Path, required=True)
    mark.set_defaults(func=cmd_mark)
    args = ap.parse_args(argv)
    return args.func(args)


if __name__ == "__main__":
    sys.exit(main())

"""`evalkit rate`: a person's 0-10 rating of a checkpoint, kept in the score store with who and when;
`evalkit calibrate`: the quality score's weights fitted to those ratings (evalkit/gate/calibration.py)."""

from __future__ import annotations

from evalkit.paths import add_reports_dir_option
from evalkit.terminal_text import printable
from evalkit.usable_dir import writable_dir


def register(subparsers) -> None:
    p = subparsers.add_parser(
        "rate", help="record your 0-10 rating of a checkpoint (beside evalkit's quality; evalkit calibrate fits to them)",
        description="Rate a checkpoint 0-10 by eye, as our users' Quality column. RUN_OR_CHECKPOINT: a .safetensors "
        "file, or a checkpoint / training-run name the score store already evaluated.")
    p.add_argument("target", metavar="RUN_OR_CHECKPOINT",
                   help="a checkpoint file, or the name of a checkpoint or training run evaluated in the store")
    p.add_argument("score", metavar="SCORE", help="0-10")
    p.add_argument("--note", default=None, metavar="TEXT", help="what you saw")
    p.add_argument("--by", default=None, metavar="WHO", help="who rates (default: $EVALKIT_USER, else your login)")
    add_reports_dir_option(p)
    p.set_defaults(func=run)
    c = subparsers.add_parser(
        "calibrate", help="fit the quality score's weights to your ratings (at least 4 rated checkpoints)",
        description="Fit quality = 10 x prod goodness^w (w >= 0.05, sum 1: monotone in every metric) to the ratings "
        "in the score store, each checkpoint's latest evaluation; prints Spearman's rho before and after "
        "(in sample and leave-one-out) and the formula, and writes it to evalkit.toml [quality].")
    add_reports_dir_option(c)
    c.add_argument("--rootdir", default=".", metavar="DIR", help="where evalkit.toml is written (default: .)")
    c.add_argument("--dry-run", action="store_true", help="print the fit, write nothing")
    c.set_defaults(func=calibrate)


def rated_checkpoints(store) -> list:
    """`Rated` per rated checkpoint that has a scored evaluation: its newest rating and newest evaluation's means."""
    from evalkit.gate.calibration import Rated
    from evalkit.score.metrics import IMAGE_METRICS
    from evalkit.store.ratings import RatingBook

    latest = RatingBook(store).latest()
    newest: dict[str, tuple] = {}
    for record in store.runs():
        for ck in record.checkpoints:
            means = {m.name: ck.mean(m.name) for m in IMAGE_METRICS}
            if ck.sha256 in latest and all(v is not None for v in means.values()):
                key = (record.started_at, record.run_id)
                if ck.sha256 not in newest or key > newest[ck.sha256][0]:
                    newest[ck.sha256] = (key, ck.name, means)
    return [Rated(name, means, latest[sha].score) for sha, (_, name, means) in sorted(newest.items(), key=lambda x: x[1][1])]


def calibrate(args) -> int:
    from evalkit.gate.calibration import fit_weights, write_weights
    from evalkit.gate.quality import FORMULA
    from evalkit.store.store import ScoreStore

    rated = rated_checkpoints(ScoreStore.default(writable_dir(args.reports_dir)))
    c = fit_weights(rated)
    rho = lambda r: "n/a" if r is None else f"{r:+.3f}"  # noqa: E731
    print(f"{c.n} rated checkpoints")
    print(f"default:    quality 0-10 = {FORMULA}  Spearman rho {rho(c.rho_default)}")
    print(f"calibrated: quality 0-10 = {c.formula}  Spearman rho {rho(c.rho_fitted)} in sample, "
          f"{rho(c.rho_loo)} leave-one-out")
    if not args.dry_run:
        print(f"written: {write_weights(args.rootdir, c)} [quality] (the gate and the report use it from now on)")
    return 0


def run(args) -> int:
    from evalkit.store.ratings import RatingBook, check_score
    from evalkit.store.store import ScoreStore

    check_score(args.score)  # before the store is opened or created: a bad score costs nothing
    book = RatingBook(ScoreStore.default(writable_dir(args.reports_dir)))  # a file or /proc: one line, exit 4
    r = book.add(args.target, args.score, args.note, args.by)
    print(printable(f"rated {r.name} ({r.checkpoint_sha256[:12]}) {r.score:g}/10 by {r.rated_by} at {r.rated_at}"
                    + (f": {r.note}" if r.note else "")))
    return 0

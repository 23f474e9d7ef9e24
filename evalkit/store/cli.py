"""`evalkit rate`: a person's 0-10 rating of a checkpoint, kept in the score store with who and when."""

from __future__ import annotations

from evalkit.paths import DEFAULT_REPORTS
from evalkit.terminal_text import printable


def register(subparsers) -> None:
    p = subparsers.add_parser(
        "rate", help="record your 0-10 rating of a checkpoint (beside evalkit's quality; evalkit calibrate fits to them)",
        description="Rate a checkpoint 0-10 by eye, as our users' Quality column. RUN_OR_CHECKPOINT: a .safetensors "
        "file, or a checkpoint / training-run name the score store already evaluated.")
    p.add_argument("target", metavar="RUN_OR_CHECKPOINT")
    p.add_argument("score", metavar="SCORE", help="0-10")
    p.add_argument("--note", default=None, metavar="TEXT", help="what you saw")
    p.add_argument("--by", default=None, metavar="WHO", help="who rates (default: $EVALKIT_USER, else your login)")
    p.add_argument("--reports-dir", default=str(DEFAULT_REPORTS), metavar="DIR",
                   help="where the score store lives (default: %(default)s)")
    p.set_defaults(func=run)


def run(args) -> int:
    from evalkit.store.ratings import RatingBook, check_score
    from evalkit.store.store import ScoreStore

    check_score(args.score)  # before the store is opened or created: a bad score costs nothing
    book = RatingBook(ScoreStore.default(args.reports_dir))
    r = book.add(args.target, args.score, args.note, args.by)
    print(printable(f"rated {r.name} ({r.checkpoint_sha256[:12]}) {r.score:g}/10 by {r.rated_by} at {r.rated_at}"
                    + (f": {r.note}" if r.note else "")))
    return 0

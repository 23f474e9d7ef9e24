"""Score one checkpoint's renders for the gate, each render once: from the score cache when its inputs
were scored before (`evalkit.score.score_cache`), else with `score_image` (and then cached).

With a `ScorePool` the misses are scored in worker processes while the main process goes on (it
renders the next checkpoint: the CPU never holds the GPU back); `submit_renders` returns at once and
`collect` waits. Workers run the same `score_image` on the same pixels and the same reference (read
from its cache file), so the scores, and the verdicts, are those of scoring in the main process.
"""

from __future__ import annotations

from evalkit.score.score_cache import ScoreCache, ScoreSummary, file_sha256


def _score_one(render, reference, codes, text: str, requested) -> ScoreSummary:
    from evalkit.score.score_image import score_image

    return ScoreSummary.of(score_image(render.image(), reference, hex_codes=codes, prompt=text, requested=requested))


def submit_renders(renders, prompts: dict, hex_codes: list, requested: dict, reference, cache: ScoreCache,
                   pool: "ScorePool | None" = None) -> list:
    """Per render, its `ScoreSummary` (a cache hit, or scored here without a pool) or ``(key, future)``.
    ``prompts``: prompt id -> Prompt; ``hex_codes``: per render, the codes the text encoder read;
    ``requested``: prompt id -> the labels it asks for."""
    out = []
    for r, codes in zip(renders, hex_codes):
        p = prompts[r.prompt_id]
        # A render from the cache was just checked against its sidecar's sha256; kohya samples have none.
        key = cache.key(r.meta.get("png_sha256") or file_sha256(r.path), codes, p.text, requested[r.prompt_id])
        summary = cache.get(key)
        if summary is None and pool is not None:
            out.append((key, pool.submit(r, codes, p.text, requested[r.prompt_id])))
            continue
        if summary is None:
            summary = _score_one(r, reference, codes, p.text, requested[r.prompt_id])
            cache.put(key, summary)
        out.append(summary)
    return out


def collect(pending: list, cache: ScoreCache) -> list[ScoreSummary]:
    """`submit_renders`' list with every future waited for (and its scores cached)."""
    out = []
    for item in pending:
        if isinstance(item, tuple):
            key, future = item
            item = future.result()
            cache.put(key, item)
        out.append(item)
    return out


def score_renders(renders, prompts: dict, hex_codes: list, requested: dict, reference,
                  cache: ScoreCache) -> list[ScoreSummary]:
    """`ScoreSummary` per render, in order, scored in this process."""
    return collect(submit_renders(renders, prompts, hex_codes, requested, reference, cache), cache)


_REFERENCE = None  # a worker's golden reference, read once by `_load_reference`


def _load_reference(path: str) -> None:
    global _REFERENCE
    from evalkit.score.golden_reference import load_reference

    _REFERENCE = load_reference(path)


def _score_in_worker(render, codes, text, requested) -> ScoreSummary:
    return _score_one(render, _REFERENCE, codes, text, requested)


class ScorePool:
    """``workers`` processes scoring renders against the reference stored at ``reference_path``.

    Spawned, never forked: the main process holds CUDA and torch's threads. The pool starts once
    per run, on the first miss (a fully cached run starts none), and `close` ends it."""

    def __init__(self, workers: int, reference_path):
        import multiprocessing
        from concurrent.futures import ProcessPoolExecutor

        self.pool = ProcessPoolExecutor(workers, mp_context=multiprocessing.get_context("spawn"),
                                        initializer=_load_reference, initargs=(str(reference_path),))

    def submit(self, render, codes, text: str, requested):
        return self.pool.submit(_score_in_worker, render, list(codes), text, requested)

    def close(self) -> None:
        self.pool.shutdown(wait=True, cancel_futures=True)


def set_scores_for(summaries, renders, prompts: dict, reference, cache: ScoreCache):
    """`set_level.set_scores` of one checkpoint's renders, from the cache when these cells were judged before."""
    cells = [s.cells for s in summaries]
    prompt_ids = [r.prompt_id for r in renders]
    groups = [prompts[r.prompt_id].golden for r in renders]
    key = cache.set_key(cells, prompt_ids, groups)
    found = cache.get_set(key)
    if found is None:
        from evalkit.score.set_level import set_scores

        found = set_scores(cells, reference, prompt_ids=prompt_ids, golden_groups=groups)
        cache.put_set(key, found)
    return found

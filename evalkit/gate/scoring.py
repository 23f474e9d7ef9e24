"""Score one checkpoint's renders for the gate, each render once: from the score cache when its inputs
were scored before (`evalkit.score.score_cache`), else with `score_image` (and then cached)."""

from __future__ import annotations

from evalkit.score.score_cache import ScoreCache, ScoreSummary, file_sha256


def score_renders(renders, prompts: dict, hex_codes: list, requested: dict, reference,
                  cache: ScoreCache) -> list[ScoreSummary]:
    """`ScoreSummary` per render, in order. ``prompts``: prompt id -> Prompt; ``hex_codes``: per render,
    the codes the text encoder read; ``requested``: prompt id -> the labels it asks for."""
    out = []
    for r, codes in zip(renders, hex_codes):
        p = prompts[r.prompt_id]
        # A render from the cache was just checked against its sidecar's sha256; kohya samples have none.
        key = cache.key(r.meta.get("png_sha256") or file_sha256(r.path), codes, p.text, requested[r.prompt_id])
        summary = cache.get(key)
        if summary is None:
            from evalkit.score.score_image import score_image

            summary = ScoreSummary.of(score_image(r.image(), reference, hex_codes=codes, prompt=p.text,
                                                  requested=requested[r.prompt_id]))
            cache.put(key, summary)
        out.append(summary)
    return out


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

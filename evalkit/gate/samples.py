"""Epoch curves from the samples sd-scripts drew during training: no rendering, no base model.

Each sample is scored as `evalkit score` scores any render (with its prompt's
hex codes when the prompt file is given: sd-scripts numbers samples by the
prompt's position in it); the scores of one epoch make one `EpochPoint`, and
the run's curve, best epoch and earliest epoch within noise follow
`evalkit.gate.epochs` exactly as for rendered checkpoints.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path

from evalkit.gate.epochs import EpochPoint, EpochRun, epoch_run
from evalkit.score.kohya_samples import SampleName, read_sample_folder
from evalkit.score.metrics import IMAGE_METRICS


@dataclass
class ScoredSamples:
    runs: list[EpochRun] = field(default_factory=list)  # runs with 2+ epochs of samples
    images: list[tuple[SampleName, object, object]] = field(default_factory=list)  # (name, prompt or None, ImageScores)
    unparsed: list[Path] = field(default_factory=list)
    refused: list[str] = field(default_factory=list)
    unmatched: list[SampleName] = field(default_factory=list)  # prompt index beyond the prompt file

    def skipped_lines(self) -> list[str]:
        lines = []
        if self.unparsed:
            lines.append(f"skipped {len(self.unparsed)} file(s) whose names are not sd-scripts sample names "
                         "(NAME_e000001_00_YYYYmmddHHMMSS_SEED.png): " + ", ".join(p.name for p in self.unparsed))
        if self.unmatched:
            lines.append(f"skipped {len(self.unmatched)} sample(s) whose prompt index is not in the prompt file: "
                         + ", ".join(s.path.name for s in self.unmatched))
        return lines + [f"epochs: {why}" for why in self.refused]


def score_samples(output_dir: Path, reference, prompts=None, score=None) -> ScoredSamples:
    """Score every parsable sample of ``output_dir`` and draw each run's epoch curve.

    ``prompts``: the sd-scripts prompt file's prompts (index i is sample ``_i:02d_``), or None.
    ``score``: ``(path, prompt or None) -> ImageScores`` (default: `score_file` with the prompt's hex codes).
    """
    if score is None:
        from evalkit.score.score_image import score_file

        def score(path, prompt):
            return score_file(path, reference, hex_codes=prompt.hex_codes if prompt else (),
                              prompt=prompt.text if prompt else "")

    folder = read_sample_folder(output_dir)
    out = ScoredSamples(unparsed=folder.unparsed, refused=folder.refused)
    for run, samples in sorted(folder.runs.items()):
        by_epoch: dict[int, dict[str, list[float]]] = {}
        for s in samples:
            prompt = None
            if prompts is not None:
                if s.index >= len(prompts):
                    out.unmatched.append(s)
                    continue
                prompt = prompts[s.index]
            scores = score(s.path, prompt)
            out.images.append((s, prompt, scores))
            values = by_epoch.setdefault(s.at, {m.name: [] for m in IMAGE_METRICS})
            for m in IMAGE_METRICS:
                values[m.name].append(float(scores.values[m.name]))
        per_step = samples[0].epoch is None
        label = "step {}" if per_step else "e{:06d}"
        points = [EpochPoint(at, label.format(at), v) for at, v in sorted(by_epoch.items())]
        if len(points) >= 2:
            out.runs.append(epoch_run(run, points, source="samples by step" if per_step else "samples"))
    return out

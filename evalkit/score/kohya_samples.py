"""The sample images sd-scripts draws during training (``--sample_prompts``), read by their file names.

sd-scripts' ``train_util.sample_image_inference`` saves into ``OUTPUT_DIR/sample/``::

    {output_name}_{e%06d epoch | %06d steps}_{prompt index:02d}_{%Y%m%d%H%M%S}[_{seed}].png

(``output_name_`` only when ``--output_name`` is set; ``_seed`` only when the
prompt named one with ``--d``). The output name may itself hold underscores,
so a name is read from its end. A file that does not match is never guessed
at: it is listed and skipped. Two samples of one (run, epoch, prompt, seed)
with different timestamps come from two trainings into one folder: that run
is refused (its epochs would mix runs).
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from pathlib import Path

SAMPLE_NAME = re.compile(
    r"^(?:(?P<run>.+)_)?(?:e(?P<epoch>\d{6,})|(?P<steps>\d{6,}))_(?P<index>\d{2,})_(?P<ts>\d{14})(?:_(?P<seed>\d+))?$")
NO_NAME = "(no --output_name)"
IMAGE_SUFFIXES = {".png", ".jpg", ".jpeg", ".webp"}


@dataclass(frozen=True)
class SampleName:
    """What one sample's file name says."""

    path: Path
    run: str  # sd-scripts' --output_name, or NO_NAME
    epoch: int | None  # set for per-epoch samples ...
    steps: int | None  # ... or this for per-step ones
    index: int  # the prompt's position in the prompt file (sd-scripts' "enum")
    timestamp: str
    seed: int | None

    @property
    def at(self) -> int:
        """Where in training: the epoch, else the step."""
        return self.epoch if self.epoch is not None else self.steps


def parse_sample_name(path: Path) -> SampleName | None:
    """The parts of an sd-scripts sample file name; None when it is not one."""
    path = Path(path)
    if path.suffix.lower() not in IMAGE_SUFFIXES:
        return None
    m = SAMPLE_NAME.match(path.stem)
    if not m:
        return None
    return SampleName(path, m["run"] or NO_NAME, int(m["epoch"]) if m["epoch"] else None,
                      int(m["steps"]) if m["steps"] else None, int(m["index"]), m["ts"],
                      int(m["seed"]) if m["seed"] else None)


@dataclass
class SampleFolder:
    """An sd-scripts output folder's samples: by run, and what could not be used."""

    runs: dict[str, list[SampleName]]  # run name -> its samples, by (at, index, seed)
    unparsed: list[Path]  # names that are not sd-scripts' sample names
    refused: list[str]  # one line per run left out (mixed runs)


def read_sample_folder(output_dir: Path) -> SampleFolder:
    """``OUTPUT_DIR/sample/`` (or OUTPUT_DIR itself when it is the sample folder) parsed by name."""
    from evalkit.errors import EvalkitError

    output_dir = Path(output_dir)
    folder = output_dir / "sample" if (output_dir / "sample").is_dir() else output_dir
    if not folder.is_dir():
        raise EvalkitError(output_dir, "is not a folder (an sd-scripts output folder or its sample/)")
    files = sorted(p for p in folder.iterdir() if p.is_file())
    parsed, unparsed = [], []
    for p in files:
        s = parse_sample_name(p)
        (parsed if s else unparsed).append(s or p)
    if not parsed:
        raise EvalkitError(folder, f"holds no sd-scripts sample images (NAME_e000001_00_TIMESTAMP_SEED.png); "
                                   f"{len(unparsed)} other file(s)")
    runs: dict[str, list[SampleName]] = {}
    for s in parsed:
        runs.setdefault(s.run, []).append(s)
    refused = []
    for run, samples in list(runs.items()):
        why = _mixed(run, samples)
        if why:
            refused.append(why)
            del runs[run]
        else:
            samples.sort(key=lambda s: (s.at, s.index, s.seed or 0))
    return SampleFolder(runs, unparsed, refused)


def _mixed(run: str, samples: list[SampleName]) -> str | None:
    kinds = {s.epoch is not None for s in samples}
    if len(kinds) > 1:
        return f"{run}: samples named by epoch and by step in one run (two trainings into one folder?); left out"
    seen: dict[tuple, SampleName] = {}
    for s in samples:
        key = (s.at, s.index, s.seed)
        if key in seen:
            what = f"epoch {s.epoch}" if s.epoch is not None else f"step {s.steps}"
            return (f"{run}: two samples of {what}, prompt {s.index:02d} ({seen[key].path.name}, {s.path.name}): "
                    "the folder holds more than one training run; left out")
        seen[key] = s
    return None

"""Loaded only when pytest collects the `evalkit` folder: the evaluation session.

Reads the golden set and prompt suite once per run and resolves the
checkpoints to evaluate. Bad input is a pytest usage error with one line
naming the file (exit code 4), before anything is rendered.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import pytest

from evalkit.errors import EvalkitError
from evalkit.gate.thresholds import load_thresholds
from evalkit.golden.load import load_golden
from evalkit.golden.prompts import check_prompts_against_golden, load_prompts
from evalkit.plugin import REPO_ROOT

DEFAULT_CHECKPOINT = REPO_ROOT / "checkpoints" / "tiny_punks_perfect.safetensors"


def resolve_checkpoints(config: pytest.Config) -> list[Path]:
    paths = [Path(p) for p in config.getoption("checkpoint")]
    for d in config.getoption("checkpoint_dir"):
        d = Path(d)
        if not d.is_dir():
            raise EvalkitError(d, "--checkpoint-dir is not a folder")
        found = sorted(d.glob("*.safetensors"))
        if not found:
            raise EvalkitError(d, "holds no *.safetensors checkpoints")
        paths += found
    if not paths and DEFAULT_CHECKPOINT.exists():
        paths = [DEFAULT_CHECKPOINT]
    return paths


class EvalSession:
    def __init__(self, config: pytest.Config):
        golden_dir = Path(config.getoption("golden"))
        self.golden = load_golden(golden_dir)
        prompts_path = Path(config.getoption("prompts") or golden_dir / "prompts.toml")
        self.prompts = load_prompts(prompts_path)
        if (golden_dir / "golden.toml").is_file():
            check_prompts_against_golden(self.prompts, self.golden.ids, prompts_path)
        self.checkpoints = resolve_checkpoints(config)
        self.config = config
        self.thresholds = load_thresholds(Path(config.rootpath))
        self._results: dict[Path, Evaluation] = {}
        self._reference = None

    def evaluate(self, checkpoint: Path) -> "Evaluation":
        """Render (cache-aware) and score one checkpoint, once per run."""
        if checkpoint not in self._results:
            from evalkit.render.run import render_checkpoint
            from evalkit.score.golden_reference import build_reference
            from evalkit.score.score_image import score_image

            if self._reference is None:
                self._reference = build_reference(self.golden)
            opt = self.config.getoption
            job, info = render_checkpoint(
                checkpoint, self.prompts, Path(opt("reports_dir")), base_model=opt("base_model"),
                device=opt("device"), lora_scale=opt("lora_scale"), score_only=opt("score_only"),
            )
            by_id = {p.id: p for p in self.prompts}
            scores = [score_image(r.image(), self._reference, hex_codes=by_id[r.prompt_id].hex_codes) for r in job.renders]
            self._results[checkpoint] = Evaluation(info, job.renders, scores)
        return self._results[checkpoint]


@dataclass
class Evaluation:
    info: object
    renders: list
    scores: list


def pytest_configure(config: pytest.Config) -> None:
    try:
        config.evalkit_session = EvalSession(config)
    except EvalkitError as exc:
        raise pytest.UsageError(f"evalkit: {exc}") from None


@pytest.fixture(scope="session")
def evalkit_session(request) -> EvalSession:
    return request.config.evalkit_session

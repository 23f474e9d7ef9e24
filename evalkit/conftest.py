"""Loaded only when pytest collects the `evalkit` folder: the evaluation session.

Reads the golden set and prompt suite once per run and resolves the
checkpoints to evaluate. Bad input is a pytest usage error with one line
naming the file (exit code 4), before anything is rendered.
"""

from __future__ import annotations

from pathlib import Path

import pytest

from evalkit.errors import EvalkitError
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


def pytest_configure(config: pytest.Config) -> None:
    try:
        config.evalkit_session = EvalSession(config)
    except EvalkitError as exc:
        raise pytest.UsageError(f"evalkit: {exc}") from None


@pytest.fixture(scope="session")
def evalkit_session(request) -> EvalSession:
    return request.config.evalkit_session

"""The evaluation collected by `pytest evalkit --checkpoint FILE`.

One parametrised item per checkpoint; the gate issue turns these into one
item per (checkpoint, prompt, seed, metric).
"""

from __future__ import annotations

import pytest


def pytest_generate_tests(metafunc):
    if "checkpoint" in metafunc.fixturenames:
        paths = metafunc.config.evalkit_session.checkpoints
        metafunc.parametrize("checkpoint", paths, ids=[p.stem for p in paths])


def test_golden_set_loaded(evalkit_session):
    assert len(evalkit_session.golden) > 0 and evalkit_session.prompts


def test_checkpoint_is_a_safetensors_file(checkpoint):
    if not checkpoint.is_file():
        pytest.fail(f"{checkpoint}: checkpoint does not exist", pytrace=False)
    with open(checkpoint, "rb") as f:
        head = f.read(8)
    if len(head) < 8 or head[:1] in (b"\x80", b"PK"[:1]):
        pytest.fail(f"{checkpoint}: not a safetensors file", pytrace=False)

"""Fixtures any test folder may use: the committed golden punks and the score reference built from them."""

from __future__ import annotations

import sys
from pathlib import Path

import pytest

# tests/score/score_synth.py is the one home of the golden helpers and the controlled corruptions.
sys.path.insert(0, str(Path(__file__).parent / "score"))


@pytest.fixture(scope="session")
def golden():
    from score_synth import golden_set

    return golden_set()


@pytest.fixture(scope="session")
def reference():
    from score_synth import golden_reference

    return golden_reference()

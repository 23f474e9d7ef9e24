import pytest
from score_synth import golden_reference, golden_set


@pytest.fixture(scope="session")
def golden():
    return golden_set()


@pytest.fixture(scope="session")
def reference():
    return golden_reference()

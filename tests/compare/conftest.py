"""Fixtures for the compare tests: the users' runs as real LoRA files, scored and kept in a real score store."""

from __future__ import annotations

import shutil

import pytest
from users_runs import FIRST_RUN, RUNS, SEVENTH, SEVENTH_RUN, record, users_checkpoints

from evalkit.store.store import ScoreStore



@pytest.fixture(scope="session")
def users_six(tmp_path_factory):
    """The six runs' checkpoints, scored (the gate's `--checkpoint-dir` run of them)."""
    return users_checkpoints(tmp_path_factory.mktemp("loras"))


@pytest.fixture(scope="session")
def users_seventh(tmp_path_factory):
    return users_checkpoints(tmp_path_factory.mktemp("lora7"), [SEVENTH], seed=7)[0]


@pytest.fixture(scope="session")
def six_master(tmp_path_factory, users_six):
    folder = tmp_path_factory.mktemp("six")
    ScoreStore.default(folder).add_run(record(*FIRST_RUN, users_six))
    return folder


@pytest.fixture(scope="session")
def seven_master(tmp_path_factory, six_master, users_seventh):
    folder = tmp_path_factory.mktemp("seven")
    _copy_store(six_master, folder)
    ScoreStore.default(folder).add_run(record(*SEVENTH_RUN, [users_seventh]))
    return folder


def _copy_store(src, dst):
    for f in src.glob("evalkit.sqlite*"):
        shutil.copy(f, dst / f.name)
    return dst


@pytest.fixture
def six_store(tmp_path, six_master):
    """A reports folder whose score store holds the six runs, from one gate run (a copy per test)."""
    return _copy_store(six_master, tmp_path)


@pytest.fixture
def seven_store(tmp_path, seven_master):
    """The six, then a later gate run of the seventh."""
    return _copy_store(seven_master, tmp_path)


@pytest.fixture(scope="session")
def truth():
    """name -> true suite means (grid, palette, realism)."""
    return {name: means for name, *_, means in [*RUNS, SEVENTH]}

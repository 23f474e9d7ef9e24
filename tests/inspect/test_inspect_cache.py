"""The gate's inspection cache (evalkit/inspect/cache.py): a hit is the inspection itself, any change misses."""

from __future__ import annotations

import shutil
from pathlib import Path

import pytest

from evalkit.errors import EvalkitError
from evalkit.inspect import cache as inspect_cache
from evalkit.inspect.api import inspect_checkpoint
from evalkit.inspect.cache import inspect_cached
from evalkit.paths import REPO_ROOT

TESTBED = sorted((REPO_ROOT / "checkpoints").glob("tiny_punks_*.safetensors"))


@pytest.fixture
def counted(monkeypatch):
    """How many times the cache fell through to a full inspection."""
    calls = []
    real = inspect_cache.inspect_checkpoint

    def count(path, **kw):
        calls.append(Path(path))
        return real(path, **kw)

    monkeypatch.setattr(inspect_cache, "inspect_checkpoint", count)
    return calls


@pytest.mark.parametrize("path", TESTBED, ids=lambda p: p.stem)
def test_a_hit_is_the_inspection_itself(path, tmp_path, counted):
    first = inspect_cached(path, tmp_path)
    again = inspect_cached(path, tmp_path)
    assert len(counted) == 1  # the second call decoded no tensor
    assert again.to_dict() == first.to_dict() == inspect_checkpoint(path).to_dict()
    assert again.network.modules == first.network.modules and again.health == first.health


def test_changed_content_misses(tmp_path, counted):
    lora = Path(shutil.copy(TESTBED[0], tmp_path / "lora.safetensors"))
    before = inspect_cached(lora, tmp_path / "cache")
    data = bytearray(lora.read_bytes())
    data[-8:] = bytes(8)  # the last tensor's bytes: same size, same header, other weights
    lora.write_bytes(bytes(data))
    after = inspect_cached(lora, tmp_path / "cache")
    assert len(counted) == 2
    assert after.hashes.sha256 != before.hashes.sha256
    assert after.to_dict() == inspect_checkpoint(lora).to_dict()


def test_another_path_misses_so_its_record_names_it(tmp_path, counted):
    copy = Path(shutil.copy(TESTBED[0], tmp_path / "renamed.safetensors"))
    inspect_cached(TESTBED[0], tmp_path / "cache")
    info = inspect_cached(copy, tmp_path / "cache")
    assert len(counted) == 2 and info.file == str(copy) and info.file_name == "renamed.safetensors"


def test_a_damaged_entry_is_recomputed_not_an_error(tmp_path, counted):
    inspect_cached(TESTBED[0], tmp_path)
    (entry,) = (tmp_path / "inspect").rglob("*.json")
    entry.write_text('{"schema_version": 1, "file": ')  # a run killed mid-write
    info = inspect_cached(TESTBED[0], tmp_path)
    assert len(counted) == 2 and info.to_dict() == inspect_checkpoint(TESTBED[0]).to_dict()


def test_a_pickle_is_refused_before_it_is_hashed_or_cached(tmp_path):
    bad = tmp_path / "evil.safetensors"
    bad.write_bytes(b"\x80\x04\x95" + bytes(64))  # a pickle's opening bytes
    with pytest.raises(EvalkitError, match="evil.safetensors"):
        inspect_cached(bad, tmp_path / "cache")
    assert not (tmp_path / "cache" / "inspect").exists()

"""Bad input for `evalkit compare`: runs without metadata, a single run, mixed prompt suites or golden sets, bad names."""

from __future__ import annotations

import copy
import json

import numpy as np
from users_runs import FIRST_RUN, RUNS, checkpoint, record, slots, write_lora

from evalkit.cli import main
from evalkit.compare.api import compare_store
from evalkit.after_run import after_run
from evalkit.store.store import ScoreStore


def store_with(folder, *records):
    store = ScoreStore.default(folder)
    for r in records:
        store.add_run(r)
    return folder


def test_a_run_without_metadata_is_unknown_never_guessed(tmp_path, users_six):
    bare = write_lora(tmp_path, "no_metadata_lora", "sd15", 32, None, 0, 0, 0, metadata=False)
    ck = checkpoint(bare, (0.9, 0.6, 0.05, 0.9), np.random.default_rng(5), slots())
    result = compare_store(store_with(tmp_path, record(*FIRST_RUN, [*users_six, ck]))).to_dict()
    run = next(r for r in result["runs"] if r["name"] == "no_metadata_lora")
    assert run["has_metadata"] is False
    # What the tensors measure is known; what only metadata could say is unknown.
    assert run["factors"]["base"] == "SD1.5" and run["factors"]["network_dim"] == 32
    assert run["factors"]["captions"] is None and run["factors"]["steps"] is None
    assert {"captions", "steps", "epoch", "resolution", "shuffle_caption"} <= set(run["unknown"])
    sd15 = next(s for s in result["strata"] if s["name"] == "SD1.5")
    assert "no_metadata_lora" not in sd15["runs"]
    (left,) = sd15["left_out"]
    assert left["run"] == "no_metadata_lora" and "captions" in left["unknown"] and "steps" in left["unknown"]
    assert any("without training metadata" in n for n in result["notes"])
    # The six still give the same answer.
    assert result["next_runs"][0]["config"] == "SD1.5, network_dim 32, v2 captions"


def test_a_single_run_is_one_line(tmp_path, users_six, capsys):
    store_with(tmp_path, record(*FIRST_RUN, users_six[:1]))
    assert main(["compare", "--reports-dir", str(tmp_path)]) == 0
    out = capsys.readouterr().out.splitlines()
    assert out == ["attribution: 1 scored run: attribution needs two or more"]
    assert main(["compare", "--reports-dir", str(tmp_path), "--json"]) == 0
    data = json.loads(capsys.readouterr().out)
    assert data["strata"] == [] and data["next_runs"] == [] and len(data["runs"]) == 1


def test_runs_of_different_prompt_suites_are_refused(tmp_path, users_six, capsys):
    store_with(tmp_path, record(*FIRST_RUN, users_six[:3]),
               record("20261111T120000Z-bbbb", "2026-11-11T12:00:00+00:00", users_six[3:], prompts_sha256="6" * 64,
                      prompts_path="tests/gate/prompts_small.toml"))
    assert main(["compare", "--reports-dir", str(tmp_path)]) == 4
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and "different prompt suites" in err[0]
    assert "SDXL_218MB_Nov8" in err[0] and "SD15_PERFECT_Nov9" in err[0] and "prompts_small.toml" in err[0]
    # One suite at a time compares.
    assert main(["compare", "--reports-dir", str(tmp_path), "--run", "20261111T120000Z-bbbb"]) == 0


def test_runs_against_different_golden_sets_are_refused(tmp_path, users_six, capsys):
    store_with(tmp_path, record(*FIRST_RUN, users_six[:3]),
               record("20261111T120000Z-bbbb", "2026-11-11T12:00:00+00:00", users_six[3:], golden_path="/data/my_punks"))
    assert main(["compare", "--reports-dir", str(tmp_path)]) == 4
    err = capsys.readouterr().err
    assert "different golden sets" in err and "/data/my_punks" in err


def test_no_store_and_unknown_runs(tmp_path, six_store, capsys):
    assert main(["compare", "--reports-dir", str(tmp_path / "nowhere")]) == 4
    assert "no score store" in capsys.readouterr().err
    assert main(["compare", "--reports-dir", str(six_store), "--run", "nope"]) == 4
    assert "holds no scored run or checkpoint named nope" in capsys.readouterr().err


def test_naming_captions_once(six_store, tmp_path, capsys, monkeypatch):
    monkeypatch.chdir(tmp_path)
    assert main(["compare", "--reports-dir", str(six_store), "--name-captions", "tags-afca6c3edf5f", "old captions"]) == 0
    assert "old captions" in capsys.readouterr().out
    data = compare_store(six_store).to_dict()
    old = next(c for c in data["captions"].values() if c["short"] == "tags-afca6c3edf5f")
    assert old["label"] == "old captions" and old["source"] == "named"
    assert data["next_runs"][0]["config"] == "SD1.5, network_dim 32, v2 captions"  # the other keeps its golden label
    # evalkit.toml names a fingerprint too; the store's name wins where both name one.
    (tmp_path / "evalkit.toml").write_text('[captions]\n"cce42d8f59ec" = "new captions"\n"afca6c3edf5f" = "x"\n')
    assert main(["compare", "--reports-dir", str(six_store)]) == 0
    out = capsys.readouterr().out
    assert "next run: SD1.5, network_dim 32, new captions captions" in out
    assert "old captions (tags-afca6c3edf5f) -> new captions (tags-cce42d8f59ec)" in out
    for bad, problem in [("zz", "is not tags-<hex>"), ("abcdef0123", "holds no checkpoint trained on captions")]:
        assert main(["compare", "--reports-dir", str(six_store), "--name-captions", bad, "x"]) == 4
        assert problem in capsys.readouterr().err
    assert main(["compare", "--reports-dir", str(six_store), "--name-captions", "afca6c", "bad\x1blabel"]) == 4
    assert "printable" in capsys.readouterr().err


def test_terminal_text_from_metadata_is_escaped(tmp_path, users_six, capsys):
    cks = copy.deepcopy(users_six)
    cks[3].info["provenance"]["output_name"] = "SD15_\x1b[31mRED\x07"
    store_with(tmp_path, record(*FIRST_RUN, cks))
    assert main(["compare", "--reports-dir", str(tmp_path)]) == 0
    out = capsys.readouterr().out
    assert "\x1b" not in out and "\x07" not in out and "SD15_\\x1b[31mRED\\x07" in out


def test_the_gate_summary_after_a_multi_checkpoint_run(tmp_path, users_six):
    lines = after_run(record(*FIRST_RUN, users_six), tmp_path, report=False, sync=False)
    assert lines[0].startswith("score store:")
    assert any(line.startswith("attribution over 6 runs") for line in lines)
    assert "next run: SD1.5, network_dim 32, v2 captions" in "\n".join(lines)
    single = after_run(record("20261111T120000Z-bbbb", "2026-11-11T12:00:00+00:00", users_six[:1]), tmp_path,
                       report=False, sync=False)
    assert not any("attribution" in line for line in single)


def test_runs_recording_a_setting_rarely(tmp_path, users_six):
    """A setting only two of six runs record (with different values) is not analysed; no run is dropped for it."""
    cks = copy.deepcopy(users_six)
    cks[0].info["provenance"]["extra"]["max_grad_norm"] = 1.0
    cks[1].info["provenance"]["extra"]["max_grad_norm"] = 0.5
    result = compare_store(store_with(tmp_path, record(*FIRST_RUN, cks))).to_dict()
    overall = next(s for s in result["strata"] if s["name"] == "all runs")
    assert len(overall["runs"]) == len(RUNS) and overall["left_out"] == []
    assert overall["not_analysed"] == [{"factor": "max_grad_norm", "unknown_for": [c.name for c in cks[2:]]}]

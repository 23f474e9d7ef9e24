"""`evalkit score`: JSON per image, prompt hex codes, --save-24, one-line errors."""

import json

import numpy as np
import pytest
from PIL import Image
from score_synth import photo, upscale

from evalkit.cli import main
from evalkit.golden.prompts import load_prompts
from evalkit.score.cli import match_prompt


@pytest.fixture
def renders(tmp_path, golden):
    prompts = {p.id: p for p in load_prompts(golden.root / "prompts.toml")}
    out = tmp_path / "renders"
    out.mkdir()
    zombie = golden.images[golden.index(prompts["zombie"].golden[0])]
    Image.fromarray(upscale(zombie, 512)).save(out / "zombie-seed42.png")
    Image.fromarray(upscale(golden.images[1], 192)).save(out / "male_mohawk-seed43.png")
    Image.fromarray(np.rint(photo("chelsea", 512) * 255).astype(np.uint8)).save(out / "unrelated.jpg")
    (out / "notes.txt").write_text("ignored in folders")
    return out


def run(capsys, *argv):
    rc = main(["score", *map(str, argv)])
    out = capsys.readouterr()
    return rc, out.out, out.err


def test_json_one_object_per_image(capsys, renders, golden, tmp_path):
    rc, out, err = run(capsys, renders, "--golden", golden.root, "--prompts", golden.root / "prompts.toml",
                       "--json", "--save-24", tmp_path / "cells", "--permutations", "50")
    assert rc == 0, err
    rows = [json.loads(line) for line in out.splitlines()]
    assert [r["file"].rsplit("/", 1)[-1] for r in rows] == ["male_mohawk-seed43.png", "unrelated.jpg", "zombie-seed42.png"]
    for r in rows:
        for key in ("file", "grid_sharpness", "palette_fidelity", "photorealism", "grid", "set", "nearest_golden"):
            assert key in r
        assert {"pitch_x", "pitch_y", "origin_x", "origin_y", "confidence"} <= set(r["grid"])
        assert r["set"]["mmd"]["n_renders"] == 3 and "p_value" in r["set"]["mmd"]
        saved = np.asarray(Image.open(r["saved_24"]))
        assert saved.shape == (24, 24, 3)
    by = {r["prompt"]: r for r in rows}
    assert set(by) == {"zombie", "male_mohawk", None}
    assert by["zombie"]["details"]["palette_fidelity"]["hex_codes"] == ["#7DA269", "#638596"]
    assert by["zombie"]["palette_fidelity"] >= 0.9 and by["zombie"]["grid"]["pitch_x"] == pytest.approx(512 / 24, abs=0.05)
    assert by["zombie"]["nearest_golden"]["copied"] is True
    assert by[None]["photorealism"] > 0.6 and by[None]["grid_sharpness"] < 0.2
    assert np.array_equal(
        np.asarray(Image.open(by["zombie"]["saved_24"])),
        golden.images[golden.index(by["zombie"]["nearest_golden"]["golden_id"])],
    )


def test_human_output(capsys, renders, golden):
    rc, out, _ = run(capsys, renders / "zombie-seed42.png", "--golden", golden.root, "--permutations", "20")
    assert rc == 0
    assert "grid_sharpness 1.000" in out and out.strip().splitlines()[-1].startswith("set: 1 image(s)")


@pytest.mark.parametrize(
    "argv, fragment",
    [
        (["{tmp}/missing.png"], "missing.png: does not exist"),
        (["{tmp}/bad.png"], "bad.png: cannot be decoded"),
        (["{tmp}/ok.png", "--golden", "{tmp}/no-golden"], "no-golden: golden folder does not exist"),
        (["{tmp}/ok.png", "--prompts", "{tmp}/none.toml"], "none.toml: prompt suite does not exist"),
        (["{tmp}/ok.png", "--clip-model", "ViT-B-32"], "--clip-weights"),
        (["{tmp}/ok.png", "--clip-weights", "{tmp}/w.pt"], "without --clip-model"),
    ],
)
def test_errors_are_one_line_and_exit_4(capsys, tmp_path, golden, argv, fragment):
    (tmp_path / "bad.png").write_bytes(b"nope")
    Image.fromarray(upscale(golden.images[0], 192)).save(tmp_path / "ok.png")
    args = [a.format(tmp=tmp_path) for a in argv]
    if "--golden" not in args:
        args += ["--golden", str(golden.root)]
    rc, out, err = run(capsys, *args)
    assert rc == 4
    assert err.count("\n") == 1 and fragment in err and err.startswith("evalkit score: error: ")


def test_longest_prompt_id_prefix_wins(golden):
    prompts = load_prompts(golden.root / "prompts.toml")

    class P:
        def __init__(self, pid):
            self.id = pid

    ps = [P("male"), P("male_mohawk"), P("zombie")]
    assert match_prompt("male_mohawk-seed42", ps).id == "male_mohawk"
    assert match_prompt("male-seed1", ps).id == "male"
    assert match_prompt("ComfyUI_00001_", ps) is None
    assert match_prompt(f"{prompts[0].id}-seed{prompts[0].seeds[0]}", prompts) is prompts[0]

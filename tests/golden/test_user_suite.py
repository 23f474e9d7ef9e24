"""`evalkit init [KOHYA_DATASET_DIR]` (issue 21): evalkit.toml and a prompt suite from the user's own captions."""

import shutil
from pathlib import Path

import pytest

from evalkit.cli import main
from evalkit.errors import EvalkitError
from evalkit.gate.project import gate_settings
from evalkit.golden.prompts import load_prompts
from evalkit.golden.user_suite import build_suite, caption_tags

ROOT = Path(__file__).resolve().parents[2]
PUNKS = ROOT / "golden" / "v1" / "1_punks"


@pytest.fixture
def dataset(tmp_path):
    """A kohya dataset of real golden punks and their captions in two repeat folders."""
    for i, png in enumerate(sorted(PUNKS.glob("*.png"))[:120]):
        d = tmp_path / "train" / ("10_punks" if i % 2 else "3_more")
        d.mkdir(parents=True, exist_ok=True)
        shutil.copy(png, d / png.name)
        shutil.copy(png.with_suffix(".txt"), d / png.with_suffix(".txt").name)
    return tmp_path / "train"


def test_a_small_dataset_is_covered_by_fewer_prompts_than_captions(dataset):
    for extra in list(dataset.rglob("*.png"))[20:]:
        extra.unlink()
    prompts, covered, every = build_suite(dataset)
    assert covered == every and 1 < len(prompts) < 20  # a cover, not a copy of the captions


def test_a_large_dataset_fills_a_few_dozen_prompts_each_adding_new_tags(dataset):
    prompts, covered, every = build_suite(dataset)
    assert len(prompts) == 32 and covered < every  # hex colours make many tags: the cap is reached
    seen: set = set()
    for p in prompts:
        tags = set(caption_tags(p.text))
        assert tags - seen
        seen |= tags
    assert len({p.id for p in prompts}) == len(prompts)
    again, _, _ = build_suite(dataset)
    assert again == prompts  # deterministic


def test_a_capped_suite_takes_the_captions_adding_most_new_tags(dataset):
    prompts, covered, every = build_suite(dataset, max_prompts=3)
    assert len(prompts) == 3 and covered < every
    first = prompts[0]
    texts = [p.read_text() for p in dataset.rglob("*.txt")]
    assert len(caption_tags(first.text)) == max(len(caption_tags(t)) for t in texts)


def test_init_writes_a_loadable_suite_and_gate_settings(dataset, tmp_path, monkeypatch, capsys):
    monkeypatch.chdir(tmp_path)
    assert main(["init", str(dataset)]) == 0
    settings = gate_settings(tmp_path)
    assert settings["golden"] == dataset.resolve() and settings["prompts"] == tmp_path / "evalkit-prompts.toml"
    suite = load_prompts(settings["prompts"])
    assert suite and all(p.seeds == (1000, 1001) for p in suite)
    assert main(["init", str(dataset)]) == 4  # never overwritten without --force
    assert "exists; pass --force" in capsys.readouterr().err
    assert main(["init", str(dataset), "--force", "--max-prompts", "2"]) == 0
    assert len(load_prompts(settings["prompts"])) == 2


def test_init_refuses_a_dataset_without_captions(tmp_path, monkeypatch, capsys):
    d = tmp_path / "train" / "5_x"
    d.mkdir(parents=True)
    shutil.copy(PUNKS / "0000.png", d)
    monkeypatch.chdir(tmp_path)
    assert main(["init", str(tmp_path / "train")]) == 4
    assert "no image has a caption" in capsys.readouterr().err and not (tmp_path / "evalkit.toml").exists()


def test_a_quote_or_control_character_in_a_caption_survives_the_suite_file(tmp_path, monkeypatch):
    d = tmp_path / "train" / "1_q"
    d.mkdir(parents=True)
    shutil.copy(PUNKS / "0000.png", d / "a.png")
    (d / "a.txt").write_text('punk "quoted", back\\slash, bell\x07')
    monkeypatch.chdir(tmp_path)
    assert main(["init", str(tmp_path / "train")]) == 0
    (p,) = load_prompts(tmp_path / "evalkit-prompts.toml")
    assert p.text == 'punk "quoted", back\\slash, bell\x07'


def test_a_bad_gate_table_names_the_file(tmp_path):
    (tmp_path / "evalkit.toml").write_text('[gate]\ngolden = "g"\nprompt = "typo.toml"\n')
    with pytest.raises(EvalkitError, match="evalkit.toml: .*unknown key 'prompt'"):
        gate_settings(tmp_path)

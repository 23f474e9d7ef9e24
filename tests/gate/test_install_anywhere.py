"""evalkit installed as a user installs it (issue 21): a wheel built from this checkout, installed into a
fresh venv in a temp folder, used from a kohya-style training folder that is not evalkit's checkout.

Nothing is downloaded: the venv gets only the wheel (``--no-deps``); its dependencies come from the
project's venv through a path line in a .pth file (not that venv's own .pth files, so its editable evalkit
stays out). The training folder holds a kohya dataset (``train/10_punks/``: golden punks with their
captions, standing in for the user's), the testbed LoRA and its base copied beside it.
"""

import os
import shutil
import subprocess
import sys
import sysconfig
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
CK = ROOT / "checkpoints"
PUNKS = ROOT / "golden" / "v1" / "1_punks"
DATASET_PUNKS = 48


def sh(cmd, cwd, **env):
    return subprocess.run([str(c) for c in cmd], cwd=cwd, capture_output=True, text=True, timeout=600,
                          env={**os.environ, "PYTHONPATH": "", **env})


@pytest.fixture(scope="module")
def venv(tmp_path_factory):
    tmp = tmp_path_factory.mktemp("install")
    src = tmp / "src"
    listed = subprocess.run(["git", "ls-files", "-co", "--exclude-standard", "evalkit", "testbed", "golden",
                             "pyproject.toml", "README.md"], cwd=ROOT, capture_output=True, text=True, check=True)
    for rel in listed.stdout.split("\n"):
        if rel and (ROOT / rel).exists() or (rel and (ROOT / rel).is_symlink()):
            (src / rel).parent.mkdir(parents=True, exist_ok=True)
            shutil.copy2(ROOT / rel, src / rel, follow_symlinks=False)  # evalkit/golden/data stays a link
    built = sh([sys.executable, "-m", "pip", "wheel", "-q", "--no-deps", "--no-build-isolation", "-w", tmp / "whl",
                src], cwd=tmp)
    assert built.returncode == 0, built.stderr
    (wheel,) = (tmp / "whl").glob("evalkit-*.whl")
    env = tmp / "venv"
    subprocess.run([sys.executable, "-m", "venv", "--without-pip", env], check=True)
    py = env / "bin" / "python"
    installed = sh([sys.executable, "-m", "pip", "--python", py, "install", "-q", "--no-deps", wheel], cwd=tmp)
    assert installed.returncode == 0, installed.stderr
    site = Path(sh([py, "-c", "import sysconfig; print(sysconfig.get_paths()['purelib'])"], cwd=tmp).stdout.strip())
    (site / "project_deps.pth").write_text(sysconfig.get_paths()["purelib"] + "\n")
    return env


@pytest.fixture
def training_folder(tmp_path):
    """A kohya user's folder: train/10_punks/ (images + .txt captions), output/ with a LoRA, a base."""
    punks = tmp_path / "train" / "10_punks"
    punks.mkdir(parents=True)
    for png in sorted(PUNKS.glob("*.png"))[:DATASET_PUNKS]:
        shutil.copy(png, punks / png.name)
        shutil.copy(png.with_suffix(".txt"), punks / png.with_suffix(".txt").name)
    (tmp_path / "output").mkdir()
    shutil.copy(CK / "tiny_punks_perfect.safetensors", tmp_path / "output" / "my_punks.safetensors")
    shutil.copytree(CK / "tiny-punks-base", tmp_path / "tiny-punks-base")
    return tmp_path


@pytest.mark.slow
def test_the_installed_wheel_inits_and_gates_a_lora_from_the_users_folder(venv, training_folder):
    here = training_folder
    evalkit = venv / "bin" / "evalkit"
    where = sh([venv / "bin" / "python", "-c", "import evalkit.paths as p; print(p.__file__); print(p.DEFAULT_GOLDEN)"],
               cwd=here).stdout.split()
    assert where[0].startswith(str(venv)) and (Path(where[1]) / "prompts.toml").is_file()  # package data

    init = sh([evalkit, "init", "train", "--max-prompts", "2"], cwd=here)
    assert init.returncode == 0, init.stderr
    assert (here / "evalkit.toml").is_file() and "[[prompts]]" in (here / "evalkit-prompts.toml").read_text()

    nothing = sh([evalkit, "gate", "-p", "no:cacheprovider"], cwd=here)  # no testbed to fall back on here
    assert nothing.returncode == 4 and "no checkpoint given" in nothing.stdout + nothing.stderr

    gate = sh([evalkit, "gate", "--checkpoint", "output/my_punks.safetensors", "--base-model", "tiny-punks-base",
               "--device", "cpu", "-p", "no:cacheprovider"], cwd=here)
    out = gate.stdout + gate.stderr
    assert gate.returncode == 0, out
    assert "my_punks" in out and "best: my_punks" in out
    (record,) = (here / "reports").glob("*/run.json")  # ./reports, in the user's folder
    assert str(here / "train") in record.read_text()  # judged against the user's own dataset

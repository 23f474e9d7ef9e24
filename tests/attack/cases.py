"""The attack's bad inputs, one `Case` each, in the ten categories of issue 22.

Each case builds its input in its own folder and says what to run and what the README promises
(the exit statuses allowed, the name the error must give). Expectations follow README "### Exit
codes": 4 for a bad input file or setting found before any work, 1 for an input that failed while
the rest ran (an unloadable checkpoint in `evalkit render`, an errored gate item), 0 when the input
is odd but usable. Where the README promises no one code, the set holds each documented reading.
"""

from __future__ import annotations

import json
import os
import signal
import shutil
import sqlite3
import subprocess
import time
from pathlib import Path

import numpy as np
from PIL import Image

from . import builders as b
from .harness import (APE, BASE_MODEL, CHECKPOINTS, PERFECT, PY, ROOT, RENDER_OPTS, Case, Check, Outcome, Plan,
                      cached_renders, evalkit_cmd, finish_process, gate_cmd, keeps_files, keeps_runs, queued_runs,
                      run_process, start_process)
from .servers import SERVERS, service_key

ESC_NAME = "evil\x1b[2J\x1b[31m\nname"  # clears the screen, turns text red, breaks a line
SDXL_LORA = CHECKPOINTS / "users_runs" / "SDXL_Current_Nov10.safetensors"
CASES: list[Case] = []


def case(category: str, name: str, finding: str = "", needs_base: bool = False):
    def register(build):
        CASES.append(Case(category, name, build, finding, needs_base))
        return build
    return register


# ---------------------------------------------------------------- checkpoints (evalkit inspect, render, gate)

def _header_edit(edit):
    """The perfect LoRA's bytes with its header dict changed by `edit(header, data) -> (header, data)`."""
    def write(path: Path):
        header, data = b.real_lora()
        header, data = edit(header, data)
        path.write_bytes(b.safetensors_bytes(header, data))
    return write


def _first(header, suffix=".weight"):
    return next(k for k in header if k != "__metadata__" and k.endswith(suffix))


def _set(header, key, **spec):
    header[key] = {**header[key], **spec}
    return header


def _dup_keys(path: Path):
    header, data = b.real_lora()
    raw = json.dumps(header)
    key = _first(header)
    dup = json.dumps({key: header[key]})[1:-1]
    path.write_bytes(b.safetensors_bytes(("{" + dup + ", " + raw[1:]).encode(), data))


def _shifted(header, data, key, delta):
    begin, end = header[key]["data_offsets"]
    return _set(header, key, data_offsets=[begin, end + delta]), data


def _rank_mismatch(header, data):
    key = _first(header, "lora_up.weight")
    out, rank = header[key]["shape"]
    return _set(header, key, shape=[out // 2, rank * 2]), data  # same byte count, wrong rank


def _rank_zero(path: Path):
    down = None

    def change(name, arr):
        nonlocal down
        if down is None and name.endswith("lora_down.weight"):
            down = name[:-len("lora_down.weight")]
        if down and name.startswith(down) and name.endswith(("lora_down.weight", "lora_up.weight")):
            shape = (0, arr.shape[1]) if name.endswith("down.weight") else (arr.shape[0], 0)
            return np.zeros(shape, arr.dtype)
        return arr
    b.changed_lora(path, change)


def _drop_first(suffix):
    def write(path: Path):
        state = {"dropped": False}

        def change(name, arr):
            if not state["dropped"] and name.endswith(suffix):
                state["dropped"] = True
                return None
            return arr
        b.changed_lora(path, change)
    return write


def _alpha_two_numbers(path: Path):
    state = {"done": False}

    def change(name, arr):
        if not state["done"] and name.endswith(".alpha"):
            state["done"] = True
            return np.array([4.0, 8.0], arr.dtype)
        return arr
    b.changed_lora(path, change)


def _renamed(prefixes_from, prefix_to):
    def write(path: Path):
        header, data = b.real_lora()
        for old in prefixes_from:
            header = {(k.replace(old, prefix_to) if k != "__metadata__" else k): v for k, v in header.items()}
        path.write_bytes(b.safetensors_bytes(header, data))
    return write


def _metadata(**values):
    def write(path: Path):
        b.changed_lora(path, lambda n, a: a, lambda meta: {**meta, **values})
    return write


def _copy(src: Path):
    def write(path: Path):
        shutil.copyfile(src, path)
    return write


def _cut(fraction: float):
    def write(path: Path):
        blob = PERFECT.read_bytes()
        path.write_bytes(blob[:int(len(blob) * fraction)])
    return write


def _cut_in_header(path: Path):
    blob = PERFECT.read_bytes()
    n = int.from_bytes(blob[:8], "little")
    path.write_bytes(blob[:8 + n // 2])


def _mkdir(path: Path):
    path.mkdir()


def _symlink_loop(path: Path):
    path.symlink_to(path)


def _dangling(path: Path):
    path.symlink_to(path.parent / "gone.safetensors")


def _fifo(path: Path):
    os.mkfifo(path)


def _link_to(target: str):
    def write(path: Path):
        path.symlink_to(target)
    return write


def _textual_inversion(path: Path):
    header, data = b.pack({"emb_params": np.zeros((2, 768), np.float32)}, {"ss_network_module": "networks.lora"})
    path.write_bytes(b.safetensors_bytes(header, data))


def _huge_metadata(path: Path):
    b.changed_lora(path, lambda n, a: a, lambda meta: {**meta, "ss_training_comment": "x" * (20 << 20)})


def _tags_with_escapes(path: Path):
    freq = {"1_punks": {"\x1b[2Jpunk": 3, "bidi\u202eevil": 2, "line\nbreak": 1}}
    b.changed_lora(path, lambda n, a: a, lambda meta: {**meta, "ss_tag_frequency": json.dumps(freq)})


INSPECT_ROWS = [
    # name, writer, expected exit, text the output must name, finding
    ("empty_file", lambda p: p.write_bytes(b""), {4}, None, ""),
    ("four_bytes", lambda p: p.write_bytes(b"\0" * 4), {4}, None, ""),
    ("seven_bytes", lambda p: p.write_bytes(b"\1" * 7), {4}, None, ""),
    ("header_length_past_file", lambda p: p.write_bytes(b.safetensors_bytes(b"{}", length=10_000)), {4}, None, ""),
    ("header_length_2_63", lambda p: p.write_bytes(b.safetensors_bytes(b"{}", length=2**63)), {4}, None, ""),
    ("header_length_200mb", lambda p: p.write_bytes(b.safetensors_bytes(b"{}" + b" " * 1000, length=200 << 20)),
     {4}, None, ""),
    ("header_not_json", lambda p: p.write_bytes(b.safetensors_bytes(b"this is not json")), {4}, None, ""),
    ("header_is_a_list", lambda p: p.write_bytes(b.safetensors_bytes([1, 2, 3])), {4}, None, ""),
    ("header_not_utf8", lambda p: p.write_bytes(b.safetensors_bytes(b'{"a\xff\xfe": 1}')), {4}, None, ""),
    ("header_duplicate_keys", _dup_keys, {4}, None, ""),
    ("dtype_unknown", _header_edit(lambda h, d: (_set(h, _first(h), dtype="F7"), d)), {4}, None, ""),
    ("dtype_lie_f32_for_f16", _header_edit(lambda h, d: (_set(h, _first(h), dtype="F32"), d)), {4}, None, ""),
    ("shape_lie_doubled", _header_edit(lambda h, d: (_set(h, _first(h), shape=[2 * x for x in h[_first(h)]["shape"]]),
                                                     d)), {4}, None, ""),
    ("offsets_overlap", _header_edit(lambda h, d: _shifted(h, d, _first(h), 64)), {4}, None, ""),
    ("offsets_past_end", _header_edit(lambda h, d: (h, d[:-100])), {4}, None, ""),
    ("bytes_of_no_tensor", _header_edit(lambda h, d: (h, d + b"\0" * 64)), {4}, None, ""),
    ("metadata_not_string", _header_edit(lambda h, d: ({**h, "__metadata__": {"ss_epoch": 5}}, d)), {4}, None, ""),
    ("metadata_not_object", _header_edit(lambda h, d: ({**h, "__metadata__": ["a"]}, d)), {4}, None, ""),
    ("truncated_half", _cut(0.5), {4}, None, ""),
    ("truncated_in_header", _cut_in_header, {4}, None, ""),
    ("directory_named_safetensors", _mkdir, {4}, None, ""),
    ("symlink_loop", _symlink_loop, {4}, "symlink loop", "11"),
    ("dangling_symlink", _dangling, {4}, "broken symlink", "11"),
    ("missing_file", lambda p: None, {4}, None, ""),
    ("fifo_never_ends", _fifo, {4}, None, ""),
    ("link_to_dev_zero", _link_to("/dev/zero"), {4}, None, ""),
    ("link_to_dev_null", _link_to("/dev/null"), {4}, None, ""),
    ("huge_metadata_20mb", _huge_metadata, {0}, None, ""),
    ("nan_in_one_weight", lambda p: b.changed_lora(p, b.poisoned(float("nan"))), {0}, "NaN", "10"),
    ("inf_in_one_weight", lambda p: b.changed_lora(p, b.poisoned(float("inf"))), {0}, "Inf", "10"),
    ("all_nan_lora_up", lambda p: b.changed_lora(p, b.poisoned(float("nan"), every=True)), {0}, "NaN", "10"),
    ("weights_near_1e-7", lambda p: b.changed_lora(p, b.scaled_weights(1e-7 / 0.05)), {0}, None, "9"),
    ("weights_all_zero", lambda p: b.changed_lora(p, b.scaled_weights(0.0)), {0}, None, "9"),
    ("base_unet_as_lora", _copy(BASE_MODEL / "unet" / "diffusion_pytorch_model.safetensors"), {4}, None, ""),
    ("textual_inversion_embedding", _textual_inversion, {4}, None, ""),
    ("modules_of_a_language_model", _renamed(("lora_unet_", "lora_te_"), "lora_transformer_h_"), {4}, None, ""),
    ("rank_mismatch", _header_edit(_rank_mismatch), {4}, None, ""),
    ("lora_up_missing", _drop_first("lora_up.weight"), {4}, None, ""),
    ("lora_down_missing", _drop_first("lora_down.weight"), {4}, None, ""),
    ("rank_zero_module", _rank_zero, {4}, None, ""),
    ("alpha_two_numbers", _alpha_two_numbers, {4}, None, ""),
    ("ss_optimizer_clears_screen", _metadata(ss_optimizer="\x1b[2J\x1b[H\x1b[31mpwned\x07"), {0}, None, "5"),
    ("ss_output_name_bidi", _metadata(ss_output_name="punk\u202egnp.exe", ss_sd_model_name="base\x1b]0;title\x07"),
     {0}, None, "5"),
    ("tag_names_with_escapes", _tags_with_escapes, {0}, None, "5"),
    ("ss_numbers_not_numbers", _metadata(ss_seed="99999999999999999999999", ss_network_alpha="nan",
                                         ss_num_epochs="-1", ss_learning_rate="1e400"), {0}, None, ""),
    ("ss_json_fields_not_json", _metadata(ss_tag_frequency="{not json", ss_dataset_dirs="[1,"), {0}, None, ""),
]


def _inspect_case(name, write, expect, says, finding, filename="lora.safetensors", json_out=False):
    @case("checkpoints", name, finding)
    def build(ws, d, write=write, expect=expect, says=says, filename=filename):
        path = d / filename
        write(path)
        args = ["inspect", *(["--json"] if json_out else []), path]
        return Plan(evalkit_cmd(*args), expect, says=says or (path.name if path.name.isprintable() else None),
                    timeout=60)


for _row in INSPECT_ROWS:
    _inspect_case(*_row)
_inspect_case("file_name_with_escape_and_newline", _copy(PERFECT), {0}, None, "5", filename=ESC_NAME + ".safetensors")
_inspect_case("file_name_bidi_override", _copy(PERFECT), {0}, None, "5", filename="punk\u202egnp.safetensors")
_inspect_case("bad_file_with_escape_name_json", lambda p: p.write_bytes(b"\0" * 4), {4}, None, "5",
              filename=ESC_NAME + ".safetensors", json_out=True)


def _render_plan(d: Path, ckpt: Path, expect: set[int], says: str | None, suite: Path, *extra) -> Plan:
    reports = d / "reports"
    nothing_cached = lambda: [("lost", f"renders of a bad checkpoint reached the cache: {cached_renders(reports)}")] \
        if cached_renders(reports) else []
    return Plan(evalkit_cmd("render", "--checkpoint", ckpt, "--prompts", suite, "--reports-dir", reports,
                            *RENDER_OPTS, *extra), expect, says=says, timeout=240, checks=[nothing_cached])


@case("checkpoints", "render_nan_weights", "10")
def _(ws, d):
    ckpt = b.changed_lora(d / "diverged.safetensors", b.poisoned(float("nan")))
    return _render_plan(d, ckpt, {1}, "NaN", ws.suite1)


@case("checkpoints", "render_near_zero_lora", "9")
def _(ws, d):
    ckpt = b.changed_lora(d / "near_zero.safetensors", b.scaled_weights(1e-7 / 0.05))
    return _render_plan(d, ckpt, {1}, "near_zero.safetensors", ws.suite1)


@case("checkpoints", "render_sdxl_lora_on_sd15_base")
def _(ws, d):
    return _render_plan(d, SDXL_LORA, {1}, SDXL_LORA.name, ws.suite1, "--base-model", BASE_MODEL)


@case("checkpoints", "render_truncated_checkpoint")
def _(ws, d):
    ckpt = d / "cut.safetensors"
    _cut(0.5)(ckpt)
    return _render_plan(d, ckpt, {1}, "cut.safetensors", ws.suite1)


def _leaderboard_best(outcome_text: str) -> str:
    return next((ln for ln in outcome_text.splitlines() if ln.startswith("best:")), "")


def _gate_beside_perfect(ws, d, ckpt: Path, says: str):
    reports = ws.copy_base(d / "reports")
    cached = cached_renders(reports)
    plan = Plan(gate_cmd("--checkpoint", ckpt, "--checkpoint", PERFECT, "--prompts", ws.suite1, "--reports-dir",
                         reports, "-rE"), {1}, says=says, timeout=300, reports=reports, suite=ws.suite1,
                checks=[keeps_runs(reports), keeps_files(cached)])

    def run(workdir, plan=plan):
        out = run_process(plan.argv, workdir, timeout=plan.timeout)
        if ckpt.stem in _leaderboard_best(out.output):
            plan.checks.append(lambda: [("mislabelled", f"{ckpt.stem} named best: {_leaderboard_best(out.output)}")])
        return [out]
    plan.execute = run
    return plan


@case("checkpoints", "gate_nan_beside_perfect", "10", needs_base=True)
def _(ws, d):
    return _gate_beside_perfect(ws, d, b.changed_lora(d / "diverged.safetensors", b.poisoned(float("nan"))), "NaN")


@case("checkpoints", "gate_near_zero_beside_perfect", "9", needs_base=True)
def _(ws, d):
    return _gate_beside_perfect(ws, d, b.changed_lora(d / "near_zero.safetensors", b.scaled_weights(1e-7 / 0.05)),
                                "near_zero")


@case("checkpoints", "gate_hostile_checkpoint_name", "5", needs_base=True)
def _(ws, d):
    evil = d / (ESC_NAME + ".safetensors")
    evil.write_bytes(b"\0" * 4)
    return _gate_beside_perfect(ws, d, evil, "truncated")


# ---------------------------------------------------------------- pickles (never unpickled)

PICKLE_ROWS = [
    ("ckpt_raw_pickle", "model.ckpt", "raw"), ("pt_torch_zip", "model.pt", "zip"), ("bin_raw_pickle", "model.bin", "raw"),
    ("pth_torch_zip", "model.pth", "zip"), ("pkl_raw_pickle", "model.pkl", "raw"),
    ("pickle_named_safetensors", "model.safetensors", "raw"), ("torch_zip_named_safetensors", "model.safetensors", "zip"),
    ("pickle_double_suffix", "model.safetensors.pt", "raw"),
]


def _pickle_file(ws, path: Path, kind: str) -> Path:
    path.write_bytes(b.raw_pickle(ws.marker) if kind == "raw" else b.torch_zip_pickle(ws.marker))
    return path


for _name, _file, _kind in PICKLE_ROWS:
    @case("pickles", f"inspect_{_name}")
    def _(ws, d, _file=_file, _kind=_kind):
        path = _pickle_file(ws, d / _file, _kind)
        return Plan(evalkit_cmd("inspect", path), {4}, says=path.name)


@case("pickles", "render_checkpoint_ckpt")
def _(ws, d):
    return _render_plan(d, _pickle_file(ws, d / "model.ckpt", "raw"), {1}, "model.ckpt", ws.suite1)


@case("pickles", "render_base_model_ckpt")
def _(ws, d):
    base = _pickle_file(ws, d / "base.ckpt", "zip")
    return _render_plan(d, PERFECT, {1, 4}, "base.ckpt", ws.suite1, "--base-model", base)


@case("pickles", "render_base_folder_with_pickled_unet")
def _(ws, d):
    base = d / "tiny-punks-base"
    shutil.copytree(BASE_MODEL, base, ignore=shutil.ignore_patterns("diffusion_pytorch_model.safetensors"))
    for part in ("unet", "vae"):
        _pickle_file(ws, base / part / "diffusion_pytorch_model.bin", "zip")
    return _render_plan(d, PERFECT, {1, 4}, "tiny-punks-base", ws.suite1, "--base-model", base)


@case("pickles", "gate_checkpoint_pt", needs_base=True)
def _(ws, d):
    return _gate_beside_perfect(ws, d, _pickle_file(ws, d / "model.pt", "zip"), "model.pt")


@case("pickles", "score_pickle_named_png")
def _(ws, d):
    return Plan(evalkit_cmd("score", _pickle_file(ws, d / "render.png", "raw")), {4}, says="render.png")


# ---------------------------------------------------------------- golden sets (evalkit score --golden, the gate)

def _golden_with(change):
    """A real golden folder (12 punks) with `change(folder)` applied to it."""
    def make(d: Path) -> Path:
        root = d / "golden"
        folder = b.golden_copy(root)
        change(folder)
        return root
    return make


def _replace_first(save):
    def change(folder: Path):
        first = sorted(folder.glob("*.png"))[0]
        img = Image.open(first).convert("RGB")
        first.unlink()
        save(img, first)
    return change


def _save_as(mode=None, fmt="PNG", **kw):
    def save(img, path):
        (img.convert(mode) if mode else img).save(path, fmt, **kw)
    return save


def _save_16bit_grey(img, path):
    grey = (np.asarray(img.convert("L"), dtype=np.uint16) * 257)
    Image.fromarray(grey).save(path)  # mode I;16 on read


def _save_palette(img, path):
    img.quantize(colors=16, method=Image.Quantize.MEDIANCUT).save(path)


def _save_rgba(img, path):
    rgba = img.convert("RGBA")
    rgba.putpixel((0, 0), (0, 0, 0, 0))
    rgba.save(path)


GOLDEN_ROWS = [
    ("grey_16bit_png", _golden_with(_replace_first(_save_16bit_grey)), {0}, "8"),
    ("palette_png", _golden_with(_replace_first(_save_palette)), {0}, "8"),
    ("rgba_png", _golden_with(_replace_first(_save_rgba)), {0}, "8"),
    ("grey_8bit_png", _golden_with(_replace_first(_save_as("L"))), {0}, "8"),
    ("one_bit_png", _golden_with(_replace_first(_save_as("1"))), {0, 4}, "8"),
    ("interlaced_png", _golden_with(_replace_first(_save_as(interlace=1))), {0}, ""),
    ("jpeg_named_png", _golden_with(_replace_first(_save_as(fmt="JPEG", quality=95))), {4}, "8"),
    ("webp_lossy_named_png", _golden_with(_replace_first(_save_as(fmt="WEBP", quality=80))), {4}, "8"),
    ("wrong_size_25px", _golden_with(_replace_first(lambda img, p: img.resize((25, 25)).save(p))), {4}, "8"),
    ("upscaled_48px", _golden_with(_replace_first(lambda img, p: img.resize((48, 48), Image.NEAREST).save(p))), {0}, ""),
    ("smoothed_48px", _golden_with(_replace_first(lambda img, p: img.resize((48, 48), Image.BILINEAR).save(p))), {4}, "8"),
    ("lossless_webp_named_png", _golden_with(_replace_first(_save_as(fmt="WEBP", lossless=True))), {0}, "8"),
    ("truncated_png", _golden_with(_replace_first(lambda img, p: p.write_bytes(b.png_bytes(img)[:60]))), {4}, ""),
    ("zero_byte_png", _golden_with(_replace_first(lambda img, p: p.write_bytes(b""))), {4}, ""),
    ("text_named_png", _golden_with(_replace_first(lambda img, p: p.write_text("not an image"))), {4}, ""),
    ("symlink_loop_png", _golden_with(_replace_first(lambda img, p: p.symlink_to(p))), {4}, "11"),
    ("pickle_named_png", None, {4}, ""),
    ("captions_only", _golden_with(lambda f: [p.unlink() for p in f.glob("*.png")]), {4}, ""),
    ("escape_in_file_name", _golden_with(lambda f: shutil.copyfile(sorted(f.glob("*.png"))[1],
                                                                    f / (ESC_NAME + ".png"))), {0, 4}, "5"),
]


for _name, _make, _expect, _finding in GOLDEN_ROWS:
    @case("golden", _name, _finding)
    def _(ws, d, _make=_make, _expect=_expect, _name=_name):
        render = d / "render.png"
        b.upscaled_punk(3).save(render)
        if _make is None:  # a pickle among the golden punks
            golden = _golden_with(lambda f: None)(d)
            _pickle_file(ws, sorted((golden / "1_punks").glob("*.png"))[0], "raw")
        else:
            golden = _make(d)
        return Plan(evalkit_cmd("score", render, "--golden", golden), _expect, timeout=120,
                    says=None if 0 in _expect else "golden")


@case("golden", "empty_folder")
def _(ws, d):
    (d / "golden").mkdir()
    b.upscaled_punk().save(d / "render.png")
    return Plan(evalkit_cmd("score", d / "render.png", "--golden", d / "golden"), {4}, says="golden")


@case("golden", "missing_folder")
def _(ws, d):
    b.upscaled_punk().save(d / "render.png")
    return Plan(evalkit_cmd("score", d / "render.png", "--golden", d / "nowhere"), {4}, says="nowhere")


@case("golden", "a_file_not_a_folder")
def _(ws, d):
    b.upscaled_punk().save(d / "render.png")
    return Plan(evalkit_cmd("score", d / "render.png", "--golden", d / "render.png"), {4}, says="render.png")


@case("golden", "gate_golden_jpeg_named_png", "8")
def _(ws, d):
    golden = _golden_with(_replace_first(_save_as(fmt="JPEG", quality=95)))(d)
    return Plan(gate_cmd("--checkpoint", PERFECT, "--prompts", ws.suite1, "--golden", golden,
                         "--reports-dir", d / "reports"), {4}, says="1_punks", timeout=120,
                checks=[lambda: [("lost", "rendered before the usage error")] if cached_renders(d / "reports") else []])


@case("golden", "gate_golden_empty_folder")
def _(ws, d):
    (d / "golden").mkdir()
    return Plan(gate_cmd("--checkpoint", PERFECT, "--prompts", ws.suite1, "--golden", d / "golden",
                         "--reports-dir", d / "reports"), {4}, says="golden", timeout=120)


# ---------------------------------------------------------------- prompt suites (checked before any work)

def _suite(extra_prompt: str = "", defaults: str = 'seeds = [42]', head: str = "") -> str:
    return f'{head}[defaults]\n{defaults}\n\n[[prompts]]\nid = "ape"\ntext = "{APE}"\n{extra_prompt}'


PROMPT_ROWS = [
    # name, file name, content (str or bytes), finding
    ("not_toml", "suite.toml", "[[prompts]\nid = ", ""),
    ("not_utf8", "suite.toml", b'[[prompts]]\nid = "ape"\ntext = "\xff\xfe"\n', ""),
    ("empty_file", "suite.toml", "", ""),
    ("no_prompts", "suite.toml", "[defaults]\nseeds = [42]\n", ""),
    ("prompts_not_a_list", "suite.toml", 'prompts = "ape"\n', ""),
    ("prompt_not_a_table", "suite.toml", "prompts = [1, 2]\n", ""),
    ("defaults_not_a_table", "suite.toml", 'defaults = 3\n[[prompts]]\nid = "ape"\ntext = "x"\n', ""),
    ("prompt_without_text", "suite.toml", '[defaults]\nseeds = [1]\n[[prompts]]\nid = "ape"\n', ""),
    ("prompt_without_id", "suite.toml", '[defaults]\nseeds = [1]\n[[prompts]]\ntext = "ape"\n', ""),
    ("id_with_path", "suite.toml", _suite().replace('id = "ape"', 'id = "../../etc/ape"'), ""),
    ("id_with_escape", "suite.toml", _suite().replace('id = "ape"', 'id = "ape\\u001b[2J"'), "5"),
    ("id_with_newline", "suite.toml", _suite().replace('id = "ape"', 'id = "ape\\nx"'), "5"),
    ("id_empty", "suite.toml", _suite().replace('id = "ape"', 'id = ""'), ""),
    ("duplicate_id", "suite.toml", _suite() + '[[prompts]]\nid = "ape"\ntext = "again"\n', ""),
    ("seed_negative", "suite.toml", _suite(defaults="seeds = [-1]"), "6"),
    ("seed_2_64", "suite.toml", _suite(defaults=f"seeds = [{2**64}]"), "6"),
    ("seed_2_70", "suite.toml", _suite(defaults=f"seeds = [{2**70}]"), "6"),
    ("seed_2_70_per_prompt", "suite.toml", _suite(f"seeds = [{2**70}]\n"), "6"),
    ("seed_float", "suite.toml", _suite(defaults="seeds = [1.5]"), ""),
    ("seed_string", "suite.toml", _suite(defaults='seeds = ["42"]'), ""),
    ("seed_bool", "suite.toml", _suite(defaults="seeds = [true]"), ""),
    ("seeds_not_a_list", "suite.toml", _suite(defaults="seeds = 42"), ""),
    ("seeds_empty", "suite.toml", _suite(defaults="seeds = []"), ""),
    ("seed_repeated", "suite.toml", _suite(defaults="seeds = [42, 42]"), ""),
    ("golden_not_a_list", "suite.toml", _suite('golden = "0001"\n'), ""),
    ("negative_not_a_string", "suite.toml", _suite("negative = 5\n"), ""),
    ("caption_style_not_a_string", "suite.toml", _suite("caption_style = [1]\n"), ""),
    ("text_not_a_string", "suite.toml", '[defaults]\nseeds = [1]\n[[prompts]]\nid = "ape"\ntext = 7\n', ""),
    ("kohya_txt_unknown_flag", "prompts.txt", "a punk --zz 3\n", ""),
    ("kohya_txt_unknown_sampler", "prompts.txt", "a punk --ss not_a_sampler\n", ""),
    ("kohya_txt_seed_2_70", "prompts.txt", f"a punk --d {2**70}\n", "6"),
    ("kohya_txt_seed_not_a_number", "prompts.txt", "a punk --d many\n", ""),
    ("kohya_txt_width_not_a_number", "prompts.txt", "a punk --w wide\n", ""),
    ("kohya_json_not_a_list", "prompts.json", '{"prompt": 3}', ""),
    ("kohya_json_broken", "prompts.json", '[{"prompt": "a punk"', ""),
    ("kohya_toml_subset_not_a_table", "prompts.toml", "[prompt]\nsubset = [1]\n", ""),
]


for _name, _file, _content, _finding in PROMPT_ROWS:
    @case("prompts", _name, _finding)
    def _(ws, d, _file=_file, _content=_content):
        suite = d / _file
        suite.write_bytes(_content if isinstance(_content, bytes) else _content.encode())
        return Plan(evalkit_cmd("render", "--checkpoint", PERFECT, "--prompts", suite, "--reports-dir", d / "reports",
                                *RENDER_OPTS), {4}, says=_file, timeout=120)


@case("prompts", "missing_file")
def _(ws, d):
    return Plan(evalkit_cmd("render", "--checkpoint", PERFECT, "--prompts", d / "nope.toml", *RENDER_OPTS), {4},
                says="nope.toml")


@case("prompts", "a_folder")
def _(ws, d):
    (d / "suite.toml").mkdir()
    return Plan(evalkit_cmd("render", "--checkpoint", PERFECT, "--prompts", d / "suite.toml", *RENDER_OPTS), {4},
                says="suite.toml")


@case("prompts", "gate_seed_2_70", "6")
def _(ws, d):
    suite = d / "suite.toml"
    suite.write_text(_suite(defaults=f"seeds = [{2**70}]"))
    return Plan(gate_cmd("--checkpoint", PERFECT, "--prompts", suite, "--reports-dir", d / "reports"), {4},
                says="suite.toml", timeout=120)


@case("prompts", "ten_thousand_prompts")
def _(ws, d):
    suite = d / "suite.toml"
    suite.write_text("[defaults]\nseeds = [42]\n" + "".join(
        f'\n[[prompts]]\nid = "p{i:05d}"\ntext = "punk number {i}, #638596 background"\n' for i in range(10_000)))
    render = d / "p00042-seed42.png"
    b.upscaled_punk().save(render)
    return Plan(evalkit_cmd("score", render, "--prompts", suite), {0}, timeout=120)


@case("prompts", "prompt_text_with_escapes", "5")
def _(ws, d):
    suite = d / "suite.toml"
    suite.write_text('[defaults]\nseeds = [42]\n[[prompts]]\nid = "ape"\n'
                     'text = "ape \\u001b[2J\\u001b]0;pwned\\u0007 #856F56 skin\\u202e"\n')
    render = d / "ape-seed42.png"
    b.upscaled_punk().save(render)
    return Plan(evalkit_cmd("score", render, "--prompts", suite), {0}, timeout=120)


@case("prompts", "huge_prompt_text")
def _(ws, d):
    suite = d / "suite.toml"
    suite.write_text('[defaults]\nseeds = [42]\n[[prompts]]\nid = "ape"\ntext = "' + "punk, " * 200_000 + '"\n')
    render = d / "ape-seed42.png"
    b.upscaled_punk().save(render)
    return Plan(evalkit_cmd("score", render, "--prompts", suite, "--json"), {0}, timeout=120)


# ---------------------------------------------------------------- images (evalkit score)

def _score_file(write, expect, says=True, filename="render.png", args=()):
    def build(ws, d):
        path = d / filename
        write(path)
        return Plan(evalkit_cmd("score", path, *args), expect, timeout=120,
                    says=(path.name if says and "\x1b" not in filename else None))
    return build


def _img(img_fn, fmt="PNG", **kw):
    def write(path):
        path.write_bytes(b.png_bytes(img_fn(), fmt, **kw))
    return write


def _bad_crc(path):
    blob = bytearray(b.png_bytes(b.upscaled_punk()))
    blob[29] ^= 0xFF  # inside IHDR's CRC
    path.write_bytes(bytes(blob))


def _float_tiff(path):
    Image.fromarray(np.asarray(b.upscaled_punk().convert("L"), np.float32) / 255.0).save(path, "TIFF")


def _gif(path):
    frames = [b.upscaled_punk(i) for i in range(3)]
    frames[0].save(path, "GIF", save_all=True, append_images=frames[1:])


IMAGE_ROWS = [
    ("missing_file", lambda p: None, {4}, True, "render.png", "", ()),
    ("symlink_loop", lambda p: p.symlink_to(p), {4}, False, "render.png", "11", ()),
    ("dangling_symlink", lambda p: p.symlink_to(p.parent / "gone.png"), {4}, True, "render.png", "11", ()),
    ("zero_bytes", lambda p: p.write_bytes(b""), {4}, True, "render.png", "", ()),
    ("text_named_png", lambda p: p.write_text("hello"), {4}, True, "render.png", "", ()),
    ("truncated_png", lambda p: p.write_bytes(b.png_bytes(b.upscaled_punk())[:200]), {4}, True, "render.png", "", ()),
    ("bad_header_crc", _bad_crc, {0, 4}, False, "render.png", "", ()),
    ("over_150_megapixels", lambda p: p.write_bytes(b.sparse_png(13_000, 13_000)), {4}, True, "render.png", "11", ()),
    ("100_megapixels_past_pillows_guard", lambda p: p.write_bytes(b.sparse_png(10_000, 10_000)), {0}, False,
     "render.png", "11", ()),
    ("one_pixel", _img(lambda: Image.new("RGB", (1, 1))), {0, 4}, False, "render.png", "", ()),
    ("all_black", _img(lambda: Image.new("RGB", (192, 192))), {0}, False, "render.png", "", ()),
    ("rgba_transparent", _img(lambda: b.upscaled_punk().convert("RGBA")), {0}, False, "render.png", "", ()),
    ("grey_16bit", lambda p: _save_16bit_grey(b.upscaled_punk(), p), {0}, False, "render.png", "8", ()),
    ("palette", lambda p: _save_palette(b.upscaled_punk(), p), {0}, False, "render.png", "", ()),
    ("cmyk_jpeg", _img(lambda: b.upscaled_punk().convert("CMYK"), "JPEG"), {0}, False, "render.jpg", "", ()),
    ("jpeg_named_png", _img(lambda: b.upscaled_punk(), "JPEG"), {0}, False, "render.png", "", ()),
    ("webp", _img(lambda: b.upscaled_punk(), "WEBP"), {0}, False, "render.webp", "", ()),
    ("bmp", _img(lambda: b.upscaled_punk(), "BMP"), {0}, False, "render.bmp", "", ()),
    ("float_tiff", _float_tiff, {0, 4}, False, "render.tiff", "", ()),
    ("animated_gif", _gif, {0, 4}, False, "render.gif", "", ()),
    ("extreme_aspect", _img(lambda: Image.new("RGB", (4000, 8))), {0, 4}, False, "render.png", "", ()),
    ("escape_newline_name", _img(lambda: b.upscaled_punk()), {0}, False, ESC_NAME + ".png", "5", ()),
    ("escape_name_json", _img(lambda: b.upscaled_punk()), {0}, False, ESC_NAME + ".png", "5", ("--json",)),
    ("bidi_name", _img(lambda: b.upscaled_punk()), {0}, False, "punk\u202egnp.png", "5", ()),
    ("permutations_negative", _img(lambda: b.upscaled_punk()), {4}, False, "render.png", "", ("--permutations", "-1")),
    ("save_24_onto_a_file", _img(lambda: b.upscaled_punk()), {4}, False, "render.png", "", ("--save-24", "/etc/hostname")),
    ("unknown_prompt_id", _img(lambda: b.upscaled_punk()), {0}, False, "nosuchprompt-seed42.png", "",
     ("--prompts", str(ROOT / "golden" / "prompts.toml"))),
]

for _name, _write, _expect, _says, _fname, _finding, _args in IMAGE_ROWS:
    case("images", _name, _finding)(_score_file(_write, _expect, _says, _fname, _args))


@case("images", "folder_without_images")
def _(ws, d):
    (d / "renders").mkdir()
    (d / "renders" / "notes.txt").write_text("none here")
    return Plan(evalkit_cmd("score", d / "renders"), {4}, says="renders")


@case("images", "folder_with_one_bad_image")
def _(ws, d):
    (d / "renders").mkdir()
    b.upscaled_punk().save(d / "renders" / "good.png")
    (d / "renders" / "bad.png").write_bytes(b"\x89PNG\r\n\x1a\n")
    return Plan(evalkit_cmd("score", d / "renders"), {4}, says="bad.png")


# ---------------------------------------------------------------- cache tampering (the gate, --score-only)

def _sidecar_of(reports: Path) -> Path:
    return cached_renders(reports)[0].with_suffix(".json")


def _edit_sidecar(**fields):
    def tamper(reports: Path):
        side = _sidecar_of(reports)
        side.write_text(json.dumps({**json.loads(side.read_text()), **fields}))
    return tamper


def _truncate(which: str, keep: float):
    def tamper(reports: Path):
        path = cached_renders(reports)[0]
        path = path.with_suffix(".json") if which == "json" else path
        blob = path.read_bytes()
        path.write_bytes(blob[:int(len(blob) * keep)])
    return tamper


def _replace_png(reports: Path):
    b.upscaled_punk(5, 64).save(cached_renders(reports)[0])


def _unlink(which: str):
    def tamper(reports: Path):
        path = cached_renders(reports)[0]
        (path.with_suffix(".json") if which == "json" else path).unlink()
    return tamper


def _stray_seed(reports: Path):
    png = cached_renders(reports)[0]
    stray = png.with_name("ape-seed99.png")
    shutil.copyfile(png, stray)
    side = json.loads(png.with_suffix(".json").read_text())
    stray.with_suffix(".json").write_text(json.dumps({**side, "seed": 99}))


def _sidecar_list(reports: Path):
    _sidecar_of(reports).write_text("[1, 2, 3]")


def _sidecar_wrong_types(reports: Path):
    _edit_sidecar(seed="42", config=[], png_sha256=None)(reports)


TAMPER_ROWS = [
    ("sidecar_seed_edited", _edit_sidecar(seed=43), "1"),
    ("sidecar_seed_2_70", _edit_sidecar(seed=2**70), "1"),
    ("sidecar_prompt_id_edited", _edit_sidecar(prompt_id="male_mohawk"), "1"),
    ("sidecar_prompt_text_edited", _edit_sidecar(prompt="a photo of a cat"), "1"),
    ("sidecar_negative_edited", _edit_sidecar(negative="pixel art"), "1"),
    ("sidecar_checkpoint_hash_edited", _edit_sidecar(checkpoint_sha256="0" * 64), "1"),
    ("sidecar_config_key_edited", _edit_sidecar(config_key="0123456789abcdef"), "1"),
    ("sidecar_png_sha_edited", _edit_sidecar(png_sha256="f" * 64), "1"),
    ("sidecar_escape_in_prompt", _edit_sidecar(prompt="\x1b[2Jpwned\n"), "5"),
    ("sidecar_wrong_types", _sidecar_wrong_types, "1"),
    ("sidecar_json_truncated", _truncate("json", 0.5), "1"),
    ("sidecar_json_a_list", _sidecar_list, "1"),
    ("sidecar_deleted", _unlink("json"), "2"),
    ("png_deleted", _unlink("png"), "2"),
    ("png_truncated", _truncate("png", 0.5), "1"),
    ("png_replaced_by_another_punk", _replace_png, "1"),
    ("stray_render_for_seed_99", _stray_seed, "1"),
]

for _name, _tamper, _finding in TAMPER_ROWS:
    @case("tampering", _name, _finding, needs_base=True)
    def _(ws, d, _tamper=_tamper, _name=_name):
        reports = ws.copy_base(d / "reports")
        runs = keeps_runs(reports)
        _tamper(reports)
        expect = {0, 1} if _name == "stray_render_for_seed_99" else {1}
        says = "ape seed 42" if expect == {1} else None  # the render --score-only then misses, by name
        return Plan(gate_cmd("--checkpoint", PERFECT, "--prompts", ws.suite1, "--reports-dir", reports, "--score-only",
                             "-rE"), expect, says=says, timeout=240, reports=reports, suite=ws.suite1, checks=[runs])


@case("tampering", "sidecar_seed_edited_then_render", "1", needs_base=True)
def _(ws, d):
    reports = ws.copy_base(d / "reports")
    _edit_sidecar(seed=43)(reports)

    def sidecar_back():
        side = json.loads(_sidecar_of(reports).read_text()) if cached_renders(reports) else {}
        return [] if side.get("seed") == 42 else [("mislabelled", f"the cache still serves seed {side.get('seed')}")]
    return Plan(evalkit_cmd("render", "--checkpoint", PERFECT, "--prompts", ws.suite1, "--reports-dir", reports,
                            *RENDER_OPTS), {0}, timeout=240, checks=[sidecar_back])


@case("tampering", "cache_folder_is_a_file", needs_base=True)
def _(ws, d):
    reports = ws.copy_base(d / "reports")
    runs = keeps_runs(reports)
    folder = cached_renders(reports)[0].parent
    shutil.rmtree(folder)
    folder.write_text("not a folder")
    return Plan(gate_cmd("--checkpoint", PERFECT, "--prompts", ws.suite1, "--reports-dir", reports, "--score-only"),
                {1, 4}, timeout=240, reports=reports, suite=ws.suite1, checks=[runs])


def _gate_with_settings(ws, d, files: dict[str, str], *args, expect=frozenset({4}), says=None) -> Plan:
    """The gate (--score-only, base cache) run from `d`, where `files` (evalkit.toml, a baseline) were hand-edited.
    With an evalkit.toml it runs as `evalkit gate`, whose rootdir (where evalkit.toml is read) is the current folder."""
    reports = ws.copy_base(d / "reports")
    for name, text in files.items():
        (d / name).write_text(text)
    opts = ["--checkpoint", PERFECT, "--prompts", ws.suite1, "--reports-dir", reports, "--score-only", *args]
    argv = evalkit_cmd("gate", "-p", "no:cacheprovider", "-q", *RENDER_OPTS, *opts) if "evalkit.toml" in files \
        else gate_cmd(*opts)
    return Plan(argv, set(expect), says=says, timeout=240, reports=reports, suite=ws.suite1,
                checks=[keeps_runs(reports)])


SETTINGS_ROWS = [
    ("baseline_truncated_json", {"base.json": '{"scores": {"ape'}, ("--baseline", "base.json"), {1, 4}, "base.json"),
    ("baseline_a_list", {"base.json": "[1, 2]"}, ("--baseline", "base.json"), {1, 4}, "base.json"),
    ("baseline_scores_of_wrong_type", {"base.json": '{"checkpoint": "x", "scores": "none", "metrics": 5}'},
     ("--baseline", "base.json"), {1, 4}, "base.json"),
    ("evalkit_toml_not_toml", {"evalkit.toml": "[gate\nprompts = "}, (), {4}, "evalkit.toml"),
    ("evalkit_toml_threshold_not_a_number", {"evalkit.toml": '[thresholds]\ngrid_sharpness = "high"\n'}, (), {4},
     "evalkit.toml"),
    ("evalkit_toml_unknown_threshold", {"evalkit.toml": "[thresholds]\nsharpness = 0.5\n"}, (), {4}, "evalkit.toml"),
    ("evalkit_toml_threshold_nan", {"evalkit.toml": "[thresholds]\ngrid_sharpness = nan\n"}, (), {4}, "evalkit.toml"),
    ("render_options_other_than_the_cache", {}, ("--steps", "3"), {1}, "not in the cache"),
]

for _name, _files, _args, _expect, _says in SETTINGS_ROWS:
    @case("tampering", _name, "2" if _name.startswith("render_options") else "", needs_base=True)
    def _(ws, d, _files=_files, _args=_args, _expect=_expect, _says=_says):
        return _gate_with_settings(ws, d, _files, *_args, "-rE", expect=_expect, says=_says)


@case("checkpoints", "gate_checkpoint_dir_with_bad_files", needs_base=True)
def _(ws, d):
    folder = d / "ckpts"
    folder.mkdir()
    shutil.copyfile(PERFECT, folder / "tiny_punks_perfect.safetensors")  # same bytes: its renders are cached
    (folder / "loop.safetensors").symlink_to(folder / "loop.safetensors")
    (folder / "dir.safetensors").mkdir()
    _pickle_file(ws, folder / "old.ckpt", "raw")
    (folder / "cut.safetensors").write_bytes(PERFECT.read_bytes()[:1000])
    reports = ws.copy_base(d / "reports")
    return Plan(gate_cmd("--checkpoint-dir", folder, "--prompts", ws.suite1, "--reports-dir", reports, "--score-only",
                         "-rE"), {1, 4}, says="cut.safetensors", timeout=240, reports=reports, suite=ws.suite1,
                checks=[keeps_runs(reports)])


# ---------------------------------------------------------------- concurrent runs

def _together(*argvs_and_waits):
    """Start every command at once (each after its delay), wait for all."""
    def execute(workdir: Path) -> list[Outcome]:
        procs = []
        for argv, delay, env in argvs_and_waits:
            time.sleep(delay)
            procs.append((start_process(argv, workdir, env), time.monotonic()))
        return [finish_process(p, 300, t) for p, t in procs]
    return execute


@case("concurrent", "two_renders_one_fresh_cache")
def _(ws, d):
    reports = d / "reports"
    argv = evalkit_cmd("render", "--checkpoint", PERFECT, "--prompts", ws.suite1, "--reports-dir", reports, *RENDER_OPTS)

    def one_good_render():
        renders = cached_renders(reports)
        if len(renders) != 1:
            return [("lost", f"{len(renders)} renders in the cache, not 1")]
        side = json.loads(renders[0].with_suffix(".json").read_text())
        import hashlib
        ok = hashlib.sha256(renders[0].read_bytes()).hexdigest() == side.get("png_sha256")
        return [] if ok else [("lost", "the cached PNG does not match its sidecar's sha256")]
    return Plan(None, {0}, execute=_together((argv, 0, None), (argv, 0.5, None)), checks=[one_good_render])


@case("concurrent", "two_gates_one_reports_dir", needs_base=True)
def _(ws, d):
    reports = ws.copy_base(d / "reports")
    before = keeps_runs(reports)
    argv = gate_cmd("--checkpoint", PERFECT, "--prompts", ws.suite1, "--reports-dir", reports, "--score-only")

    def both_stored():
        new = len(list(reports.glob("*/run.json"))) - 1
        return [] if new == 2 else [("lost", f"{new} of the 2 concurrent runs have a run record")]
    return Plan(None, {0, 1}, execute=_together((argv, 0, None), (argv, 0.2, None)), reports=reports,
                suite=ws.suite1, checks=[before, both_stored])


@case("concurrent", "gate_and_report_at_once", needs_base=True)
def _(ws, d):
    reports = ws.copy_base(d / "reports")
    gate = gate_cmd("--checkpoint", PERFECT, "--prompts", ws.suite1, "--reports-dir", reports, "--score-only",
                    "--report")
    report = evalkit_cmd("report", "--reports-dir", reports)
    return Plan(None, {0, 1}, execute=_together((gate, 0, None), (report, 1.0, None)), reports=reports,
                suite=ws.suite1, checks=[keeps_runs(reports)])


@case("concurrent", "two_syncs_one_store", needs_base=True)
def _(ws, d):
    reports = ws.copy_base(d / "reports")
    env = {"SUPABASE_URL": SERVERS.url("http_500"), "SUPABASE_SERVICE_ROLE_KEY": service_key()}
    argv = evalkit_cmd("sync", "--reports-dir", reports)
    return Plan(None, {4}, execute=_together((argv, 0, env), (argv, 0, env)), checks=[keeps_runs(reports)])


# ---------------------------------------------------------------- killed runs

def _kill_when(argv, env, ready, sig, rerun=None, timeout=240):
    """Start `argv`; once `ready()` holds, send `sig`; then run `rerun` (if any) to completion."""
    def execute(workdir: Path) -> list[Outcome]:
        start = time.monotonic()
        proc = start_process(argv, workdir, env)
        while not ready() and proc.poll() is None and time.monotonic() - start < timeout:
            time.sleep(0.05)
        proc.send_signal(sig)
        first = finish_process(proc, 60, start)
        if sig == signal.SIGKILL:  # a killed process says nothing; its rc is -9 by design, not ours to judge
            first = Outcome(first.argv, 0, first.output, first.seconds)
        return [first] + ([run_process(rerun, workdir, env, timeout)] if rerun else [])
    return execute


@case("killed", "render_sigkill_mid_render_then_rerun")
def _(ws, d):
    reports = d / "reports"
    argv = evalkit_cmd("render", "--checkpoint", PERFECT, "--prompts", ws.suite48, "--reports-dir", reports,
                       *RENDER_OPTS, "--batch-size", "1")
    seen: list = []

    def ready():
        renders = cached_renders(reports)
        if renders:
            seen[:] = renders
        return bool(renders)

    def complete():
        renders, problems = cached_renders(reports), []
        if len(renders) != 48:
            problems.append(("lost", f"{len(renders)} of 48 renders after the re-run"))
        if len(seen) >= 48:
            problems.append(("harness", "the render had finished before the kill"))
        problems += keeps_files(seen)()
        return problems
    return Plan(None, {0}, execute=_kill_when(argv, None, ready, signal.SIGKILL, rerun=argv), checks=[complete])


@case("killed", "render_ctrl_c_mid_render")
def _(ws, d):
    reports = d / "reports"
    argv = evalkit_cmd("render", "--checkpoint", PERFECT, "--prompts", ws.suite48, "--reports-dir", reports,
                       *RENDER_OPTS, "--batch-size", "1")
    return Plan(None, {2}, says="interrupted", execute=_kill_when(argv, None, lambda: bool(cached_renders(reports)),
                                                                 signal.SIGINT))


@case("killed", "gate_sigkill_then_rerun", needs_base=True)
def _(ws, d):
    reports = ws.copy_base(d / "reports")
    argv = gate_cmd("--checkpoint", PERFECT, "--prompts", ws.suite1, "--reports-dir", reports, "--score-only")
    t0 = [time.monotonic()]

    def ready():
        return time.monotonic() - t0[0] > 5
    plan = Plan(None, {0, 1}, reports=reports, suite=ws.suite1, checks=[keeps_runs(reports)])
    inner = _kill_when(argv, None, ready, signal.SIGKILL, rerun=argv)

    def execute(workdir):
        t0[0] = time.monotonic()
        return inner(workdir)
    plan.execute = execute
    return plan


@case("killed", "sync_sigkill_mid_request_then_status", needs_base=True)
def _(ws, d):
    reports = ws.copy_base(d / "reports")
    env = {"SUPABASE_URL": SERVERS.url("slow_503"), "SUPABASE_SERVICE_ROLE_KEY": service_key()}
    t0 = time.monotonic()
    return Plan(None, {0}, checks=[keeps_runs(reports)],
                execute=_kill_when(evalkit_cmd("sync", "--reports-dir", reports), env,
                                   lambda: time.monotonic() - t0 > 1.5, signal.SIGKILL,
                                   rerun=evalkit_cmd("sync", "--status", "--reports-dir", reports)))


# ---------------------------------------------------------------- sync (real servers that answer badly)

SYNC_EXTRA_BLOCKED = """\
# Stand-in for an install without the `sync` extra: an import hook refuses its packages, as a
# missing package would (they are installed in this venv, so nothing else can simulate it).
import sys
BLOCKED = {"httpx", "supabase", "postgrest", "storage3", "gotrue", "supabase_auth", "psycopg"}
class Blocker:
    def find_spec(self, name, path=None, target=None):
        if name.split(".")[0] in BLOCKED:
            raise ModuleNotFoundError(f"No module named {name!r}", name=name)
sys.meta_path.insert(0, Blocker())
from evalkit.cli import main
sys.exit(main(sys.argv[1:]))
"""

for _behaviour in ("http_500", "http_503_json", "plain_text", "html_login", "json_string", "json_number",
                   "json_object", "json_list_of_strings", "json_null", "escape_in_error", "missing_table",
                   "rate_limited", "empty_200", "invalid_json", "redirect_loop", "huge_body", "slow_503",
                   "close_no_answer"):
    @case("sync", f"server_{_behaviour}", "4", needs_base=True)
    def _(ws, d, _behaviour=_behaviour):
        return _sync_plan(ws, d, SERVERS.url(_behaviour), "127.0.0.1")


def _sync_plan(ws, d, url: str, says: str, *args) -> Plan:
    """`evalkit sync ARGS` of the base's queued run to `url`: exit 4 naming `says`, the run still queued."""
    reports = ws.copy_base(d / "reports")
    env = {"SUPABASE_URL": url, "SUPABASE_SERVICE_ROLE_KEY": service_key()}
    return Plan(evalkit_cmd("sync", *args, "--reports-dir", reports), {4}, env=env, timeout=180, says=says,
                checks=[keeps_runs(reports)])


@case("sync", "connection_refused", "4", needs_base=True)
def _(ws, d):
    return _sync_plan(ws, d, "http://127.0.0.1:9", "127.0.0.1")


@case("sync", "url_not_a_url", needs_base=True)
def _(ws, d):
    return _sync_plan(ws, d, "not a url\x1b[2J", "SUPABASE_URL")


@case("sync", "postgres_refused", needs_base=True)
def _(ws, d):
    dsn = "postgresql://evalkit:s3cret@127.0.0.1:9/postgres"
    return _sync_plan(ws, d, "", "127.0.0.1", "--backend", "postgres", "--dsn", dsn)


@case("sync", "sync_extra_missing", "4", needs_base=True)
def _(ws, d):
    reports = ws.copy_base(d / "reports")
    env = {"SUPABASE_URL": SERVERS.url("http_500"), "SUPABASE_SERVICE_ROLE_KEY": service_key()}
    return Plan([PY, "-c", SYNC_EXTRA_BLOCKED, "sync", "--reports-dir", str(reports)], {4}, env=env,
                says="evalkit[sync]", checks=[keeps_runs(reports)])


@case("sync", "dotenv_binary_junk", needs_base=True)
def _(ws, d):
    reports = ws.copy_base(d / "reports")
    (d / ".env").write_bytes(b"\x00\xff\x1b[2JSUPABASE_URL\n=\n\x80\x81")
    return Plan(evalkit_cmd("sync", "--reports-dir", reports), {4}, checks=[keeps_runs(reports)])


@case("sync", "status_after_a_hostile_failure", "5", needs_base=True)
def _(ws, d):
    reports = ws.copy_base(d / "reports")
    env = {"SUPABASE_URL": SERVERS.url("escape_in_error"), "SUPABASE_SERVICE_ROLE_KEY": service_key()}
    sync = evalkit_cmd("sync", "--reports-dir", reports)
    status = evalkit_cmd("sync", "--status", "--reports-dir", reports)
    plan = Plan(None, {0, 4}, checks=[keeps_runs(reports)])
    plan.execute = lambda workdir: [run_process(sync, workdir, env), run_process(status, workdir, env)]
    return plan


@case("sync", "gate_sync_to_a_failing_server", "4", needs_base=True)
def _(ws, d):
    reports = ws.copy_base(d / "reports")
    env = {"SUPABASE_URL": SERVERS.url("html_login"), "SUPABASE_SERVICE_ROLE_KEY": service_key()}

    def new_run_queued():
        queued = len(queued_runs(reports))
        return [] if queued == 2 else [("lost", f"{queued} runs queued after a failed sync, not 2")]
    return Plan(gate_cmd("--checkpoint", PERFECT, "--prompts", ws.suite1, "--reports-dir", reports, "--score-only",
                         "--sync"), {0, 1}, env=env, says="sync", timeout=240, reports=reports, suite=ws.suite1,
                checks=[keeps_runs(reports), new_run_queued])


# ---------------------------------------------------------------- report folders

def _a_file(d: Path) -> Path:
    (d / "a_file").write_text("not a folder")
    return d / "a_file"


UNUSABLE = {"a_file": _a_file, "below_a_file": lambda d: _a_file(d) / "below",
            "under_proc": lambda d: Path("/proc/evalkit-reports"), "under_sys": lambda d: Path("/sys/evalkit-reports")}
COMMANDS = {
    "render": lambda ws, r: evalkit_cmd("render", "--checkpoint", PERFECT, "--prompts", ws.suite1, "--reports-dir", r,
                                        *RENDER_OPTS),
    "gate": lambda ws, r: gate_cmd("--checkpoint", PERFECT, "--prompts", ws.suite1, "--reports-dir", r),
    "report": lambda ws, r: evalkit_cmd("report", "--reports-dir", r),
    "sync": lambda ws, r: evalkit_cmd("sync", "--reports-dir", r),
    "compare": lambda ws, r: evalkit_cmd("compare", "--reports-dir", r),
    "rate": lambda ws, r: evalkit_cmd("rate", "--reports-dir", r, "tiny_punks_perfect", "7"),
    "calibrate": lambda ws, r: evalkit_cmd("calibrate", "--dry-run", "--reports-dir", r),
}
REPORT_ROWS = [("render", "a_file"), ("render", "below_a_file"), ("render", "under_proc"), ("render", "under_sys"),
               ("gate", "a_file"), ("gate", "under_proc"), ("report", "a_file"), ("report", "under_proc"),
               ("sync", "a_file"), ("compare", "a_file"), ("rate", "a_file"), ("rate", "under_proc"),
               ("calibrate", "a_file")]

for _cmd, _where in REPORT_ROWS:
    @case("reports", f"{_cmd}_reports_dir_{_where}", "3")
    def _(ws, d, _cmd=_cmd, _where=_where):
        bad = UNUSABLE[_where](d)
        return Plan(COMMANDS[_cmd](ws, bad), {4}, says=str(bad), timeout=120)


def _immutable(folder: Path) -> Check:
    """`folder` made read-only for root too (chattr +i: nothing can be created, renamed or removed in it);
    the check it returns lifts that again after the run, so the workspace can be removed."""
    subprocess.run(["chattr", "+i", str(folder)], check=True, capture_output=True)

    def lift():
        subprocess.run(["chattr", "-i", str(folder)], check=False, capture_output=True)
        return []
    return lift


for _cmd in ("render", "gate", "rate"):
    @case("reports", f"{_cmd}_reports_dir_read_only", "3")
    def _(ws, d, _cmd=_cmd):
        reports = d / "reports"
        reports.mkdir()
        lift = _immutable(reports)
        return Plan(COMMANDS[_cmd](ws, reports), {4}, says=str(reports), timeout=120, checks=[lift])


@case("reports", "report_into_a_read_only_reports_dir", needs_base=True)
def _(ws, d):
    reports = ws.copy_base(d / "reports")
    lift = _immutable(reports)
    return Plan(evalkit_cmd("report", "--reports-dir", reports), {4}, says="cannot be written", timeout=120,
                checks=[lift, keeps_runs(reports)])


@case("reports", "render_env_reports_dir_under_proc", "3")
def _(ws, d):
    return Plan(evalkit_cmd("render", "--checkpoint", PERFECT, "--prompts", ws.suite1, *RENDER_OPTS), {4},
                env={"EVALKIT_REPORTS_DIR": "/proc/evalkit-reports"}, says="/proc/evalkit-reports")


def _store_with_a_truncated_record(ws, d) -> tuple[Path, str]:
    """The base's reports with a second stored run whose record_json is cut in half; returns (reports, good run)."""
    reports = ws.copy_base(d / "reports")
    with sqlite3.connect(reports / "evalkit.sqlite") as conn:
        run_id, started, record = conn.execute("SELECT run_id, started_at, record_json FROM run_records").fetchone()
        conn.execute("INSERT INTO run_records VALUES (?, ?, ?)", ("20990101T000000Z-dead", started, record[:len(record) // 2]))
        conn.execute("INSERT INTO sync_queue (run_id, enqueued_at) SELECT '20990101T000000Z-dead', enqueued_at "
                     "FROM sync_queue WHERE run_id = ?", (run_id,))
    return reports, run_id


TRUNCATED_STORE_COMMANDS = {
    "compare": lambda r: evalkit_cmd("compare", "--reports-dir", r),
    "rate": lambda r: evalkit_cmd("rate", "--reports-dir", r, "tiny_punks_perfect", "7"),
    "calibrate": lambda r: evalkit_cmd("calibrate", "--dry-run", "--reports-dir", r),
    "sync": lambda r: evalkit_cmd("sync", "--reports-dir", r),
    "sync_status": lambda r: evalkit_cmd("sync", "--status", "--reports-dir", r),
}
for _cmd, _argv in TRUNCATED_STORE_COMMANDS.items():
    @case("reports", f"{_cmd}_truncated_record_json", "7", needs_base=True)
    def _(ws, d, _argv=_argv, _cmd=_cmd):
        reports, _ = _store_with_a_truncated_record(ws, d)
        env = {"SUPABASE_URL": SERVERS.url("http_500"), "SUPABASE_SERVICE_ROLE_KEY": service_key()}
        return Plan(_argv(reports), {0, 1, 4}, env=env, timeout=120, checks=[keeps_runs(reports)])


@case("reports", "report_truncated_record_json", "7", needs_base=True)
def _(ws, d):
    reports, run_id = _store_with_a_truncated_record(ws, d)
    index = reports / run_id / "index.html"

    def good_run_rendered():
        return [] if index.is_file() else [("lost", f"the intact run {run_id} got no page")]
    return Plan(evalkit_cmd("report", "--reports-dir", reports), {0, 4}, says="20990101T000000Z-dead",
                checks=[good_run_rendered], timeout=120)


@case("reports", "report_store_not_sqlite")
def _(ws, d):
    (d / "reports").mkdir()
    (d / "reports" / "evalkit.sqlite").write_bytes(b"\x1b[2J this is not a database " * 100)
    return Plan(evalkit_cmd("report", "--reports-dir", d / "reports"), {4}, says="evalkit.sqlite")


@case("reports", "report_store_is_a_folder")
def _(ws, d):
    (d / "reports" / "evalkit.sqlite").mkdir(parents=True)
    return Plan(evalkit_cmd("report", "--reports-dir", d / "reports"), {4}, says="evalkit.sqlite")


@case("reports", "report_empty_folder")
def _(ws, d):
    (d / "reports").mkdir()
    return Plan(evalkit_cmd("report", "--reports-dir", d / "reports"), {0, 4})


@case("reports", "gate_report_index_is_a_folder", needs_base=True)
def _(ws, d):
    reports = ws.copy_base(d / "reports")
    shutil.rmtree(reports / "index.html", ignore_errors=True)
    (reports / "index.html").unlink(missing_ok=True)
    (reports / "index.html").mkdir()

    def run_kept():
        return [] if len(list(reports.glob("*/run.json"))) == 2 else [("lost", "the new run has no run record")]
    return Plan(gate_cmd("--checkpoint", PERFECT, "--prompts", ws.suite1, "--reports-dir", reports, "--score-only",
                         "--report"), {4}, says="index.html", timeout=240, reports=reports, suite=ws.suite1,
                checks=[keeps_runs(reports), run_kept])


@case("reports", "report_dir_with_escape_name", "5", needs_base=True)
def _(ws, d):
    reports = ws.copy_base(d / ("rep" + ESC_NAME))
    return Plan(evalkit_cmd("report", "--reports-dir", reports), {0}, timeout=120)


@case("reports", "gate_reports_dir_with_escape_name", "5", needs_base=True)
def _(ws, d):
    reports = ws.copy_base(d / ("rep" + ESC_NAME))
    return Plan(gate_cmd("--checkpoint", PERFECT, "--prompts", ws.suite1, "--reports-dir", reports, "--score-only"),
                {0, 1}, timeout=240, reports=reports, suite=ws.suite1, checks=[keeps_runs(reports)])


CATEGORIES = ["checkpoints", "pickles", "golden", "prompts", "images", "tampering", "concurrent", "killed", "sync",
              "reports"]

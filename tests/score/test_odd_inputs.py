"""Scores are deterministic and finite on any input; unusable files fail with one line naming them."""

import struct
import zlib

import numpy as np
import pytest
from PIL import Image
from score_synth import upscale

from evalkit.image_arrays import as_rgb_float
from evalkit.errors import EvalkitError
from evalkit.image_io import image_files, read_image
from evalkit.score.score_image import score_file, score_image


def assert_sane(scores):
    values = [scores.grid_sharpness, scores.palette_fidelity, scores.photorealism]
    assert all(np.isfinite(v) and 0.0 <= v <= 1.0 for v in values), values
    assert scores.fit.cells.shape == (24, 24, 3) and scores.fit.cells.dtype == np.uint8
    d = scores.to_dict()
    assert np.isfinite([d["grid"]["pitch_x"], d["grid"]["origin_x"], d["grid"]["confidence"]]).all()


rng = np.random.default_rng(0)
ODD_ARRAYS = {
    "1x1": np.zeros((1, 1, 3), np.uint8),
    "2x3 gray": np.array([[0, 255, 7], [1, 2, 3]], np.uint8),
    "7x300 strip": rng.integers(0, 256, (7, 300, 3), dtype=np.uint8),
    "uniform black": np.zeros((512, 512, 3), np.uint8),
    "uniform white": np.full((192, 192, 3), 255, np.uint8),
    "uniform backdrop": np.broadcast_to(np.array([99, 133, 150], np.uint8), (512, 512, 3)).copy(),
    "gray 2-D": rng.integers(0, 256, (256, 256), dtype=np.uint8),
    "gray (H, W, 1)": rng.integers(0, 256, (200, 200, 1), dtype=np.uint8),
    "gray + alpha": rng.integers(0, 256, (200, 200, 2), dtype=np.uint8),
    "rgba": rng.integers(0, 256, (300, 300, 4), dtype=np.uint8),
    "uint16": rng.integers(0, 65536, (256, 256, 3), dtype=np.uint16),
    "float64": rng.random((256, 256, 3)),
    "float with nan/inf": np.where(rng.random((128, 128, 3)) < 0.1, np.nan, np.inf * (rng.random((128, 128, 3)) - 0.5)),
    "bool": rng.random((96, 96)) < 0.5,
    "int32 16-bit range": rng.integers(0, 65536, (96, 96, 3)).astype(np.int32),
    "checkerboard 1px": (np.indices((512, 512)).sum(0) % 2 * 255).astype(np.uint8),
}


@pytest.mark.parametrize("name", sorted(ODD_ARRAYS))
def test_finite_and_deterministic_on_odd_arrays(reference, name):
    a = score_image(ODD_ARRAYS[name], reference)
    b = score_image(ODD_ARRAYS[name], reference)
    assert_sane(a)
    assert a.to_dict() == b.to_dict()
    assert np.array_equal(a.fit.cells, b.fit.cells)


def test_huge_image_is_reduced_and_still_recovered(golden, reference):
    cells = golden.images[9]
    big = upscale(cells, 24 * 180)  # 4320 x 4320, 180 px per cell
    s = score_image(big, reference)
    assert_sane(s)
    assert s.scale == 3 and s.width == 4320
    assert np.array_equal(s.fit.cells, cells)
    assert s.to_dict()["grid"]["pitch_x"] == pytest.approx(180, rel=0.01)
    assert s.grid_sharpness >= 0.95


def test_same_punk_in_every_array_form_scores_the_same(golden, reference):
    img = upscale(golden.images[12], 192)
    forms = [img, img.astype(np.float32) / 255, img.astype(np.uint16) * 257, np.dstack([img, np.full(img.shape[:2], 255, np.uint8)])]
    dicts = [score_image(f, reference).to_dict() for f in forms]
    for d in dicts[1:]:
        for key in ("grid_sharpness", "palette_fidelity", "photorealism"):
            assert d[key] == pytest.approx(dicts[0][key], abs=1e-3)


def test_transparent_pixels_become_the_backdrop():
    rgba = np.zeros((4, 4, 4), np.uint8)
    out = as_rgb_float(rgba)
    assert np.allclose(out * 255, [99, 133, 150], atol=0.01)


def test_as_rgb_float_rejects_shapes_it_cannot_read():
    for bad in (np.zeros((4, 4, 5)), np.zeros((2, 2, 2, 3)), np.zeros((0, 4, 3))):
        with pytest.raises(ValueError):
            as_rgb_float(bad)


def png16_rgb(path, arr):
    """A 48-bit RGB PNG (Pillow cannot write one)."""
    h, w, _ = arr.shape
    raw = b"".join(b"\x00" + arr[y].astype(">u2").tobytes() for y in range(h))

    def chunk(kind, data):
        return struct.pack(">I", len(data)) + kind + data + struct.pack(">I", zlib.crc32(kind + data) & 0xFFFFFFFF)

    path.write_bytes(
        b"\x89PNG\r\n\x1a\n"
        + chunk(b"IHDR", struct.pack(">IIBBBBB", w, h, 16, 2, 0, 0, 0))
        + chunk(b"IDAT", zlib.compress(raw))
        + chunk(b"IEND", b"")
    )


def test_file_formats(tmp_path, golden, reference):
    cells = golden.images[21]
    img = upscale(cells, 192)
    files = {}
    files["rgb.png"] = Image.fromarray(img)
    files["rgba.png"] = Image.fromarray(np.dstack([img, np.full(img.shape[:2], 255, np.uint8)]))
    files["gray.png"] = Image.fromarray(img).convert("L")
    files["gray16.png"] = Image.fromarray((img[..., 0].astype(np.uint16) * 257))
    files["palette.png"] = Image.fromarray(img).convert("P", palette=Image.ADAPTIVE, colors=64)
    files["bilevel.png"] = Image.fromarray(img).convert("1")
    files["q90.jpg"] = Image.fromarray(img)
    files["lossless.webp"] = Image.fromarray(img)
    files["cmyk.jpg"] = Image.fromarray(img).convert("CMYK")
    for name, im in files.items():
        kw = {"quality": 90} if name.endswith(".jpg") else ({"lossless": True} if name.endswith(".webp") else {})
        im.save(tmp_path / name, **kw)
    png16_rgb(tmp_path / "rgb48.png", img.astype(np.uint16) * 257)
    for path in sorted(tmp_path.iterdir()):
        s = score_file(path, reference)
        assert_sane(s)
        if path.name in ("rgb.png", "rgba.png", "palette.png", "lossless.webp", "rgb48.png"):
            assert np.array_equal(s.fit.cells, cells), path.name
            assert s.grid_sharpness >= 0.95 and s.palette_fidelity >= 0.9 and s.photorealism <= 0.1


def test_16_bit_gray_keeps_its_depth(tmp_path):
    arr = (np.arange(64 * 64).reshape(64, 64) * 16).astype(np.uint16)
    Image.fromarray(arr).save(tmp_path / "g16.png")
    out, factor = read_image(tmp_path / "g16.png")
    assert out.dtype == np.uint16 and out.max() == arr.max() and factor == 1


def test_huge_file_is_reduced_on_read(tmp_path, golden):
    Image.fromarray(upscale(golden.images[0], 24 * 100)).save(tmp_path / "big.png")  # 2400 px
    arr, factor = read_image(tmp_path / "big.png")
    assert factor == 2 and arr.shape[:2] == (1200, 1200)


def one_line_error(fn, *args):
    with pytest.raises(EvalkitError) as info:
        fn(*args)
    msg = str(info.value)
    assert "\n" not in msg
    return msg


def test_unusable_files_fail_with_one_line_naming_them(tmp_path, reference):
    (tmp_path / "garbage.png").write_bytes(b"\x89PNG\r\n\x1a\n not really a png")
    (tmp_path / "empty.png").write_bytes(b"")
    (tmp_path / "text.png").write_text("a caption, not a picture")
    for name in ("garbage.png", "empty.png", "text.png"):
        msg = one_line_error(score_file, tmp_path / name, reference)
        assert str(tmp_path / name) in msg and "cannot be decoded" in msg
    msg = one_line_error(score_file, tmp_path / "missing.png", reference)
    assert str(tmp_path / "missing.png") in msg and "does not exist" in msg
    msg = one_line_error(read_image, tmp_path)
    assert str(tmp_path) in msg


def test_image_files_expands_folders(tmp_path):
    (tmp_path / "b.png").write_bytes(b"")
    (tmp_path / "a.JPG").write_bytes(b"")
    (tmp_path / "notes.txt").write_text("x")
    assert [p.name for p in image_files([tmp_path])] == ["a.JPG", "b.png"]
    (tmp_path / "empty").mkdir()
    assert "holds no images" in one_line_error(image_files, [tmp_path / "empty"])
    assert "not an image" in one_line_error(image_files, [tmp_path / "notes.txt"])
    assert "does not exist" in one_line_error(image_files, [tmp_path / "nope"])


def test_images_up_to_the_documented_limit_are_read_not_refused(tmp_path):
    """Before: Pillow's own guard (about 89 Mpx) refused a 100 Mpx image the README promises to score."""
    from PIL import Image as PILImage

    from evalkit.image_io import MAX_PIXELS, read_image

    big = tmp_path / "big.png"
    PILImage.new("L", (10_000, 10_000)).save(big, compress_level=1)
    assert 10_000 * 10_000 < MAX_PIXELS
    arr, factor = read_image(big)
    assert factor == 5 and arr.shape == (2000, 2000)

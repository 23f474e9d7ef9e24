"""A user's --golden folder that is wrong gives one line naming the file."""

import numpy as np
import pytest
from PIL import Image

from evalkit.errors import EvalkitError
from evalkit.golden.load import load_golden
from evalkit.golden.prompts import load_prompts


def punk_png(path, size=24):
    rng = np.random.default_rng(0)
    cells = rng.integers(0, 4, (24, 24))
    palette = np.array([[99, 133, 150], [0, 0, 0], [174, 139, 97], [255, 246, 142]], np.uint8)
    img = palette[cells].repeat(size // 24, 0).repeat(size // 24, 1)
    Image.fromarray(img).save(path)


def expect_error(root, fragment, names):
    with pytest.raises(EvalkitError) as info:
        load_golden(root)
    msg = str(info.value)
    assert "\n" not in msg and fragment in msg
    assert str(names) in msg


def test_missing_folder(tmp_path):
    expect_error(tmp_path / "nope", "does not exist", tmp_path / "nope")


def test_empty_folder(tmp_path):
    expect_error(tmp_path, "no images", tmp_path)


def test_non_image_file(tmp_path):
    (tmp_path / "10_punks").mkdir()
    punk_png(tmp_path / "10_punks" / "a.png")
    (tmp_path / "10_punks" / "notes.pdf").write_bytes(b"%PDF-1.4")
    expect_error(tmp_path, "not an image", tmp_path / "10_punks" / "notes.pdf")


def test_corrupt_image_file(tmp_path):
    (tmp_path / "b.png").write_bytes(b"\x89PNG\r\n\x1a\n garbage")
    expect_error(tmp_path, "cannot be decoded", tmp_path / "b.png")


def test_wrong_size(tmp_path):
    Image.new("RGB", (30, 24)).save(tmp_path / "c.png")
    expect_error(tmp_path, "30x24", tmp_path / "c.png")


def test_upscale_that_is_not_pixel_art(tmp_path):
    rng = np.random.default_rng(1)
    Image.fromarray(rng.integers(0, 255, (48, 48, 3), dtype=np.uint8)).save(tmp_path / "d.png")
    expect_error(tmp_path, "not a nearest-neighbour upscale", tmp_path / "d.png")


def test_undecodable_caption(tmp_path):
    punk_png(tmp_path / "e.png")
    (tmp_path / "e.txt").write_bytes(b"male punk \xff\xfe")
    expect_error(tmp_path, "not UTF-8", tmp_path / "e.txt")


def test_kohya_folder_with_upscaled_images_loads(tmp_path):
    d = tmp_path / "5_mypunks"
    d.mkdir()
    punk_png(d / "x.png", size=192)
    (d / "x.txt").write_text("male punk, pixel art")
    (d / "x.npz").write_bytes(b"")  # kohya's latent cache sits beside images
    g = load_golden(tmp_path)
    assert g.images.shape == (1, 24, 24, 3) and g.captions["captions"] == ["male punk, pixel art"]


def test_bad_prompts_file(tmp_path):
    p = tmp_path / "prompts.toml"
    p.write_text('[[prompts]]\nid = "a"\ntext = "x"\nseeds = [1, 1]\n')
    with pytest.raises(EvalkitError, match="repeats a seed"):
        load_prompts(p)
    p.write_text("not toml [")
    with pytest.raises(EvalkitError, match="not valid TOML"):
        load_prompts(p)


def a_real_golden_punk():
    from pathlib import Path

    root = Path(__file__).resolve().parents[2] / "golden"
    return next(iter(sorted(root.glob("v1/*/*.png"))))


def test_a_16_bit_grey_golden_png_reads_as_its_grey_levels(tmp_path):
    """Before: Image.convert("RGBA") clipped 16-bit grey to black and white (mean error 109/255)."""
    grey = np.asarray(Image.open(a_real_golden_punk()).convert("L"))
    Image.fromarray(grey.astype(np.uint16) * 257).save(tmp_path / "grey16.png")
    assert Image.open(tmp_path / "grey16.png").mode.startswith("I")  # really a 16-bit file
    got = load_golden(tmp_path).images[0]
    assert np.array_equal(got, np.repeat(grey[..., None], 3, axis=2))


def test_a_jpeg_named_png_is_refused_as_a_golden_punk(tmp_path):
    Image.open(a_real_golden_punk()).convert("RGB").save(tmp_path / "punk.png", format="JPEG", quality=95)
    expect_error(tmp_path, "is a lossy JPEG file", tmp_path / "punk.png")


def test_a_lossy_webp_named_png_is_refused_and_a_lossless_one_loads(tmp_path):
    """Found by the attack (tests/attack): a lossy WebP under a .png name was accepted as a golden punk,
    its palette smeared as a JPEG's is."""
    punk = Image.open(a_real_golden_punk()).convert("RGB")
    punk.save(tmp_path / "punk.png", format="WEBP", quality=80)
    expect_error(tmp_path, "is a lossy WEBP file", tmp_path / "punk.png")
    punk.save(tmp_path / "punk.png", format="WEBP", lossless=True)
    assert np.array_equal(load_golden(tmp_path).images[0], np.asarray(punk))

"""photorealism: pixel art near 0; rises as a render is blended with a real photograph."""

import subprocess
import sys

import numpy as np
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from score_synth import examples, PHOTOS, blend, golden_set, noisy, photo, photographic, punk, upscale, wrong_colours

from evalkit.downsample.grid import recover_grid
from evalkit.errors import EvalkitError
from evalkit.score.clip_signal import ClipModel, load_clip
from evalkit.score.golden_reference import build_reference
from evalkit.score.photorealism import photorealism
from evalkit.score.score_image import score_image

IDS = golden_set().ids


def realism(img, reference, **kw):
    return photorealism(img, recover_grid(img), reference, **kw)


@settings(max_examples=examples(15), deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(
    pid=st.sampled_from(IDS),
    name=st.sampled_from(PHOTOS),
    seed=st.integers(0, 1000),
    size=st.sampled_from([192, 512]),
    alphas=st.lists(st.floats(0.0, 0.6), min_size=3, max_size=3, unique=True),
)
def test_rises_as_render_is_blended_with_a_photo(reference, pid, name, seed, size, alphas):
    # Past ~60% photo the render is a photograph with a faint punk; the score has
    # saturated there (next test) and wiggles by a few hundredths.
    base = upscale(punk(pid), size)
    ph = photo(name, size, seed)
    scores = [realism(blend(base, ph, a), reference).score for a in sorted(alphas)]
    assert all(b >= a - 0.01 for a, b in zip(scores, scores[1:])), (sorted(alphas), scores)


@pytest.mark.parametrize("name", PHOTOS)
@pytest.mark.parametrize("size", [192, 512, 1024])
def test_photographs_score_high(reference, name, size):
    assert realism(photo(name, size), reference).score >= 0.7


def test_golden_punks_score_near_zero(golden, reference):
    scores = [realism(upscale(c, 192), reference).score for c in golden.images[::4]]
    assert max(scores) <= 0.1 and np.mean(scores) <= 0.03


def test_mild_noise_is_not_photorealism(golden, reference):
    for c in golden.images[:4]:
        assert realism(noisy(upscale(c, 512), 5), reference).score <= 0.1


def test_photographic_drift_scores_well_above_pixel_art(golden, reference):
    for i in (0, 40, 80, 120):
        drift = realism(photographic(golden.images[i], 192, seed=i), reference).score
        crisp = realism(upscale(golden.images[i], 192), reference).score
        assert drift >= 0.35 and drift > crisp + 0.3


def test_wrong_colours_are_not_photorealism(golden, reference):
    # the palette is wrong but the render is still pixel art
    for i in (0, 40):
        assert realism(upscale(wrong_colours(golden.images[i]), 192), reference).score <= 0.1


def test_output_says_which_signals_were_used(golden, reference):
    r = realism(upscale(golden.images[0], 192), reference)
    assert r.used == ["texture", "gradation", "colours", "no_outline"]
    assert r.clip is None and r.to_dict()["clip"] is None
    assert r.score == pytest.approx(r.model_free)


class FakeClip(ClipModel):
    """Stands in for a CLIP model: 'photo' direction = how smooth the image is."""

    name = "fake"
    image_size = 32

    def _encode_images(self, batch):
        smooth = 1.0 - np.abs(np.diff(batch, axis=2)).mean(axis=(1, 2, 3)) * 10
        return np.stack([smooth, 1 - smooth, np.full_like(smooth, 0.1)], 1)

    def _encode_texts(self, texts):
        return np.array([[1.0, 0.0, 0.0] if "photo" in t else [0.0, 1.0, 0.0] for t in texts])


def test_clip_signal_when_a_model_is_given(golden):
    clip = FakeClip()
    ref = build_reference(golden.images[:32], clip=clip)
    assert ref.clip_features.shape == (32, 3)
    img = photo("astronaut", 192)
    fit = recover_grid(img)
    r = photorealism(img, fit, ref, clip_signals=clip.signals(img, ref.clip_features))
    assert set(r.used) == {"texture", "gradation", "colours", "no_outline", "clip_zero_shot", "clip_distance"}
    assert r.clip is not None and r.score == pytest.approx(0.5 * (r.model_free + r.clip))
    s = score_image(img, ref, clip=clip)
    assert s.realism.clip == pytest.approx(r.clip)


def test_clip_needs_local_weights_or_an_explicit_hub_id(tmp_path):
    with pytest.raises(EvalkitError) as info:
        load_clip("ViT-B-32")
    assert "\n" not in str(info.value) and "--clip-weights" in str(info.value)
    with pytest.raises(EvalkitError) as info:
        load_clip("ViT-B-32", tmp_path / "missing.pt")
    assert str(tmp_path / "missing.pt") in str(info.value)


def test_clip_degrades_to_one_line_when_open_clip_is_unusable(tmp_path):
    try:
        import open_clip  # noqa: F401
    except Exception:
        pass
    else:
        pytest.skip("open_clip imports here; the degraded path is not reachable")
    weights = tmp_path / "w.pt"
    weights.write_bytes(b"not really weights")
    with pytest.raises(EvalkitError) as info:
        load_clip("ViT-B-32", weights)
    msg = str(info.value)
    assert "\n" not in msg and "open_clip_torch" in msg


def test_scoring_never_touches_clip_unless_asked(tmp_path, golden):
    # no weights, no open_clip import, no network: run a full score in a fresh interpreter
    from PIL import Image

    Image.fromarray(upscale(golden.images[0], 192)).save(tmp_path / "a.png")
    code = (
        "import sys\n"
        "from evalkit.cli import main\n"
        f"rc = main(['score', {str(tmp_path / 'a.png')!r}, '--golden', {str(golden.root)!r}, '--json', '--permutations', '10'])\n"
        "assert rc == 0, rc\n"
        "assert 'open_clip' not in sys.modules and 'torch' not in sys.modules, sorted(m for m in sys.modules if 'clip' in m or m == 'torch')\n"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=120)
    assert out.returncode == 0, out.stderr
    assert '"clip": null' in out.stdout


def test_cmmd_on_clip_embeddings(golden):
    from evalkit.score.set_level import set_scores

    clip = FakeClip()
    ref = build_reference(golden.images[:40], clip=clip)
    scores = [score_image(photo("coffee", 192, seed), ref, clip=clip) for seed in range(4)]
    emb = np.stack([s.clip_embedding for s in scores])
    sets = set_scores([s.fit.cells for s in scores], ref, clip_features=emb, permutations=100)
    assert sets.mmd.features == "clip" and sets.mmd.n_renders == 4

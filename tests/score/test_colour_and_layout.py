"""Colour maths agrees with scikit-image; the layout prior matches the golden punks."""

import numpy as np
from skimage.color import rgb2lab

from evalkit.downsample import grid as grid_module
from evalkit.downsample.layout import BODY_OF_TYPE, PUNK_LAYOUT, PUNK_LAYOUTS
from evalkit.score.colour import cluster_colours, colour_count, delta_e, nearest_distance, rgb_to_lab


def test_lab_matches_scikit_image():
    rgb = np.random.default_rng(0).integers(0, 256, (500, 3), dtype=np.uint8)
    assert np.abs(rgb_to_lab(rgb) - rgb2lab(rgb[None])[0]).max() < 1e-6
    assert np.allclose(rgb_to_lab(rgb.astype(np.float32) / 255), rgb_to_lab(rgb), atol=1e-4)


def test_delta_e_and_nearest():
    lab = rgb_to_lab(np.array([[0, 0, 0], [255, 255, 255], [99, 133, 150]], np.uint8))
    assert abs(delta_e(lab[0], lab[1]) - 100) < 1e-6
    assert np.allclose(nearest_distance(lab, lab), 0, atol=1e-6)
    assert np.isinf(nearest_distance(lab, np.zeros((0, 3)))).all()


def test_colour_count_merges_within_tolerance():
    base = np.array([[50.0, 0, 0], [51.0, 0, 0], [80.0, 10, 10], [20.0, -30, 5]])
    assert colour_count(base, 3.0) == 3
    assert colour_count(base, 0.5) == 4
    labels, centres = cluster_colours(np.repeat(base, [5, 1, 1, 1], axis=0), 3.0)
    assert labels[0] == 0 and len(centres) == 3  # commonest colour is the first centre


def observed_layout(golden, body=None):
    types = _types(golden)
    keep = [i for i, t in enumerate(types) if body is None or BODY_OF_TYPE[t] == body]
    bg = np.asarray(golden.background)
    return (golden.images[keep] != bg).any(-1).mean(0)


def _types(golden):
    rows = (golden.root / "punks.csv").read_text().splitlines()[1:]
    by_id = {r.split(",")[0]: r.split(",")[2] for r in rows}
    return [by_id[i] for i in golden.ids]


def test_layout_tables_match_the_committed_golden_set(golden):
    assert np.abs(PUNK_LAYOUT - observed_layout(golden)).max() <= 0.005 + 1e-9
    for body, table in PUNK_LAYOUTS.items():
        assert np.abs(table - observed_layout(golden, body)).max() <= 0.005 + 1e-9


def test_layout_anchors_unseen_punks(golden):
    # leave-one-out: templates built without a punk still put it in the right columns
    types = _types(golden)
    bg = np.asarray(golden.background)
    occ = (golden.images != bg).any(-1).astype(float)
    bodies = np.array([BODY_OF_TYPE[t] for t in types])
    for i in range(len(golden)):
        keep = np.arange(len(golden)) != i
        layouts = [occ[keep & (bodies == b)].mean(0) for b in ("female", "other")]
        lattice = np.zeros((24, 40))
        lattice[:, 8:32] = occ[i]
        seen = np.ones_like(lattice)
        assert grid_module._anchor_cols(lattice, seen, 0, layouts) == 8, golden.ids[i]

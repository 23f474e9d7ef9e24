"""The metrics: pure functions on arrays (`evalkit score` on the command line).

* ``build_reference(golden) -> GoldenReference``   (golden_reference)
* ``score_image(image, reference, hex_codes=(), clip=None) -> ImageScores``   (score_image)
* ``grid_sharpness(image, fit)``, ``palette_fidelity(cells, reference, hex_codes)``,
  ``photorealism(image, fit, reference)``   (one module each)
* ``set_scores(cells_list, reference) -> SetScores``: MMD + memorisation   (set_level)
* ``read_image(path)``: the only file reading   (image_io)

See README.md, "Scoring renders (`evalkit score`)"; the metric registry: `evalkit.score.metrics`.
"""

"""Render -> recovered 24x24 punk grid.

``recover_grid(image) -> GridFit`` (`evalkit.downsample.grid`) and the one
image normaliser every stage uses, ``as_rgb_float`` (`evalkit.image_arrays`).
"""

"""Synthetic drop images of known geometry for tests that need the crop to find a drop."""

from __future__ import annotations

import dataclasses

import numpy as np

from xtalviewer.synthetic.renderer import random_geometry, render_drop


def small_drop(label: str = "crystals_3d", seed: int = 6, round_well: bool = False,
               size: tuple[int, int] = (612, 512)) -> np.ndarray:
    """A centred well (radius 0.42 of the height) holding a small round drop (0.15) off centre."""
    g = random_geometry(np.random.default_rng(seed))
    wanted = dict(well_round=round_well, well_center=(0.5, 0.5), well_radius=0.42, drop_center=(0.55, 0.53),
                  drop_radius=0.15, drop_shape=tuple((0.0, 0.0) for _ in g.drop_shape), drop_tail=(0.0, 0.0, 0.2),
                  well_corner=0.3, wall_width=0.2)
    return render_drop(label, dataclasses.replace(g, **wanted), seed, size=size)

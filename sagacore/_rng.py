"""Seed handling: every random function takes ``seed`` (int, Generator or None)."""

from __future__ import annotations

import numpy as np

Seed = int | np.random.Generator | None
"""Type of every ``seed`` argument in sagacore."""


def as_generator(seed: Seed) -> np.random.Generator:
    """Return a NumPy Generator for ``seed``.

    An ``int`` or ``None`` makes a fresh PCG64 generator (``None`` means seed 0, so that
    results stay deterministic unless a caller passes its own Generator).

    Examples
    --------
    >>> int(as_generator(3).integers(0, 100)) == int(as_generator(3).integers(0, 100))
    True
    """
    if isinstance(seed, np.random.Generator):
        return seed
    return np.random.default_rng(0 if seed is None else seed)

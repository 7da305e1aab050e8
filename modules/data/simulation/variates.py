"""Fast random variates for the toy simulation, built from uniforms and cheap functions.

On small shared machines numpy's transcendental functions and its normal and gamma generators cost 50-120 ns per
value while tan, log, sqrt and arithmetic cost a few; the full-size file needs tens of millions of variates, so these
helpers (exact in distribution, not approximations) keep its generation within seconds.
"""

from __future__ import annotations

import numpy as np

Shape = int | tuple[int, ...]


def azimuth(rng: np.random.Generator, shape: Shape) -> tuple[np.ndarray, np.ndarray]:
    """cos and sin of angles uniform in [-pi, pi), through the tangent of the half angle."""
    t = np.tan(rng.random(shape) * np.pi - np.pi / 2)
    t2 = t * t
    return (1 - t2) / (1 + t2), 2 * t / (1 + t2)


def normal(rng: np.random.Generator, shape: Shape, scale: float | np.ndarray = 1.0) -> np.ndarray:
    """Gaussian variates (Box-Muller with the half-angle tangent)."""
    size = int(np.prod(shape))
    half = (size + 1) // 2
    radius = np.sqrt(-2 * np.log1p(-rng.random(half)))
    cos, sin = azimuth(rng, half)
    values = np.concatenate([radius * cos, radius * sin])[:size]
    return values.reshape(shape) * scale


def exponential(rng: np.random.Generator, shape: Shape, scale: float = 1.0) -> np.ndarray:
    return -scale * np.log1p(-rng.random(shape))


def erlang(rng: np.random.Generator, shape: Shape, k: int, scale: float) -> np.ndarray:
    """Gamma variates of integer shape k: a sum of k exponentials."""
    product = np.ones(shape)
    for _ in range(k):
        product *= 1 - rng.random(shape)
    return -scale * np.log(product)


def kumaraswamy(rng: np.random.Generator, shape: Shape, a: float, b: float) -> np.ndarray:
    """Beta-like variates on [0, 1] with a closed-form inverse distribution function."""
    return (1 - (1 - rng.random(shape)) ** (1 / b)) ** (1 / a)


def categorical(rng: np.random.Generator, n: int, probs: tuple[float, ...] | np.ndarray) -> np.ndarray:
    """Indices drawn with the given (unnormalised) probabilities."""
    cumulative = np.cumsum(probs, dtype=float)
    return np.minimum(np.searchsorted(cumulative / cumulative[-1], rng.random(n), side="right"), len(cumulative) - 1)


def cauchy_truncated(rng: np.random.Generator, n: int, centre: float, width: float, low: float, high: float):
    """Breit-Wigner (Cauchy) line shape of full width `width`, truncated to [low, high]."""
    if width <= 0:
        return np.full(n, centre)
    lo, hi = np.arctan((low - centre) / (width / 2)), np.arctan((high - centre) / (width / 2))
    return centre + width / 2 * np.tan(lo + (hi - lo) * rng.random(n))

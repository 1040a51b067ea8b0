"""Latents from seeds: the documented RNG shared with the C engine (src/latent.c).

splitmix64 stream seeded with the seed, Box-Muller on pairs of 53-bit uniforms:

    state = uint64(seed)
    next(): state += 0x9E3779B97F4A7C15 (mod 2^64); z = state;
            z = (z ^ (z >> 30)) * 0xBF58476D1CE4E5B9; z = (z ^ (z >> 27)) * 0x94D049BB133111EB;
            return z ^ (z >> 31)                                  (all mod 2^64)
    for k = 0, 2, 4, ...: u1 = (next() >> 11) * 2^-53; u2 = (next() >> 11) * 2^-53
        r = sqrt(-2 ln(1 - u1)); z[k] = r cos(2 pi u2); z[k+1] = r sin(2 pi u2)
    (the last value is dropped when z_dim is odd); float64 math, then cast to float32.
"""

import math

import numpy as np

__all__ = ["splitmix64_stream", "seed_to_z", "seeds_to_z", "seeds_parse"]

_MASK = (1 << 64) - 1
_SEED_MAX = (1 << 32) - 1  # the C engine takes uint32 seeds


def splitmix64_stream(seed):
    """Generator of the raw 64-bit outputs for `seed`."""
    state = int(seed) & _MASK
    while True:
        state = (state + 0x9E3779B97F4A7C15) & _MASK
        z = state
        z = ((z ^ (z >> 30)) * 0xBF58476D1CE4E5B9) & _MASK
        z = ((z ^ (z >> 27)) * 0x94D049BB133111EB) & _MASK
        yield z ^ (z >> 31)


def seed_to_z(seed, z_dim):
    """z [z_dim] float32 for one seed (see the module docstring)."""
    if isinstance(seed, bool) or not isinstance(seed, (int, np.integer)) or seed < 0:
        raise ValueError("seed must be a non-negative integer (got %r)" % (seed,))
    if int(z_dim) < 1:
        raise ValueError("z_dim must be >= 1")
    z_dim = int(z_dim)
    rng = splitmix64_stream(int(seed))
    out = []
    while len(out) < z_dim:
        u1 = (next(rng) >> 11) * 2.0 ** -53
        u2 = (next(rng) >> 11) * 2.0 ** -53
        r = math.sqrt(-2.0 * math.log(1.0 - u1))
        out.append(r * math.cos(2.0 * math.pi * u2))
        out.append(r * math.sin(2.0 * math.pi * u2))
    return np.array(out[:z_dim], dtype=np.float64).astype(np.float32)


def seeds_to_z(seeds, z_dim):
    """[len(seeds), z_dim] float32."""
    return np.stack([seed_to_z(s, z_dim) for s in seeds]).astype(np.float32)


def seeds_parse(text):
    """Parses "0-7,12" into [0, 1, ..., 7, 12] (order kept, ranges inclusive, a-b needs
    a <= b). Seeds are 0..2^32-1. Raises ValueError on malformed input."""
    if not isinstance(text, str) or not text.strip():
        raise ValueError("seeds: empty seed list")
    seeds = []
    for item in text.split(","):
        item = item.strip()
        if not item:
            raise ValueError("seeds: empty item in %r" % text)
        lo, sep, hi = item.partition("-")
        try:
            if not lo.strip().isdigit() or (sep and not hi.strip().isdigit()):
                raise ValueError
            a = int(lo)
            b = int(hi) if sep else a
        except ValueError:
            raise ValueError("seeds: malformed item %r in %r (expected N or A-B)"
                             % (item, text)) from None
        if a > _SEED_MAX or b > _SEED_MAX:
            raise ValueError("seeds: %r is beyond 2^32-1" % item)
        if b < a:
            raise ValueError("seeds: range %r is reversed" % item)
        if b - a >= 1 << 20:
            raise ValueError("seeds: range %r is too long" % item)
        seeds.extend(range(a, b + 1))
    return seeds

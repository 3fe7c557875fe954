"""The process-wide host random generator.

``gp.random.seed(n)`` reseeds the one generator that ``nd.random``, the initializers and
``DataLoader`` shuffling draw from, so one seed reproduces a whole run. Values are always drawn on the
host and then copied to the target context, which makes them bit-identical on every context.

As in MXNet (``mx.random.uniform`` is ``mx.nd.random.uniform``), the samplers of :mod:`gpuparams.nd.random`
are also attributes of this module (``gp.random.uniform``, ``gp.random.normal`` ...), imported on
first use because ``nd.random`` itself imports this module.
"""
from __future__ import annotations

import threading

import numpy as np

from ._lazy import lazy_attributes

__all__ = ["seed", "generator"]

_lock = threading.Lock()
_generator = np.random.Generator(np.random.PCG64())


def seed(seed_state):
    """Reseed the shared generator.

    Parameters
    ----------
    seed_state : int
        A non-negative integer.
    """
    global _generator
    if isinstance(seed_state, bool) or not isinstance(seed_state, (int, np.integer)) or seed_state < 0:
        raise ValueError(f"seed must be a non-negative int, got {seed_state!r}")
    with _lock:
        _generator = np.random.Generator(np.random.PCG64(int(seed_state)))


def generator():
    """Return the shared :class:`numpy.random.Generator` (valid until the next :func:`seed`)."""
    return _generator


# The samplers, by name: the same functions as nd.random's (see the module docstring).
_SAMPLERS = {name: ("gpuparams.nd.random", name) for name in ("uniform", "normal", "randint", "shuffle")}
__getattr__, __dir__ = lazy_attributes(globals(), _SAMPLERS)

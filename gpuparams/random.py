"""The process-wide host random generator.

``gp.random.seed(n)`` reseeds the one generator that ``nd.random``, the initializers and
``DataLoader`` shuffling draw from, so one seed reproduces a whole run. Values are always drawn on the
host and then copied to the target context, which makes them bit-identical on every context.

As in MXNet (``mx.random.uniform`` is ``mx.nd.random.uniform``), the samplers of :mod:`gpuparams.nd.random`
are also attributes of this module (``gp.random.uniform``, ``gp.random.normal`` ...), imported on
first use because ``nd.random`` itself imports this module.
"""
from __future__ import annotations

import contextlib
import threading

import numpy as np

from ._lazy import lazy_attributes

__all__ = ["seed", "generator"]

_lock = threading.Lock()
_generator = np.random.Generator(np.random.PCG64())
# A per-thread replacement of the shared generator: DataLoader builds each batch under a generator
# seeded from (epoch, batch index), so random transforms give the same batches in any worker.
_local = threading.local()


def seed(seed_state, ctx="all"):
    """Reseed the shared generator.

    Parameters
    ----------
    seed_state : int
        A non-negative integer.
    ctx : Context or 'all', optional
        Accepted for MXNet's signature: there is one host generator for every context (samples are
        drawn on the host and copied), so seeding one context seeds them all.
    """
    global _generator
    if isinstance(seed_state, bool) or not isinstance(seed_state, (int, np.integer)) or seed_state < 0:
        raise ValueError(f"seed must be a non-negative int, got {seed_state!r}")
    with _lock:
        _generator = np.random.Generator(np.random.PCG64(int(seed_state)))


def generator():
    """Return the shared :class:`numpy.random.Generator` (valid until the next :func:`seed`).

    Inside :func:`using_generator` (on that thread) it returns the generator given there instead.
    """
    override = getattr(_local, "generator", None)
    if override is None:
        return _generator
    if not isinstance(override, np.random.Generator):  # a factory: build the generator on first use
        override = _local.generator = override()
    return override


@contextlib.contextmanager
def using_generator(gen):
    """Make :func:`generator` return ``gen`` on this thread for the duration of the ``with`` block.

    ``gen`` is a :class:`numpy.random.Generator`, or a callable without arguments that makes one; it is
    then called on the first :func:`generator` call inside the block (not at all if none comes).

    The shared generator is neither read nor advanced meanwhile. ``DataLoader`` uses it so that a
    batch's random transforms depend on the seed and the batch's position only, not on which worker
    (process or thread) built it.
    """
    previous = getattr(_local, "generator", None)
    _local.generator = gen
    try:
        yield gen
    finally:
        _local.generator = previous



def check_integer_bounds(low, high, dtype, what):
    """Refuse, before drawing, a range ``[low, high)`` that the integer ``dtype`` cannot hold: cast
    after the draw, such samples would wrap around (0..300 in int8), and a check of the samples
    alone would fail only on some draws."""
    dtype = np.dtype(dtype)
    if dtype.kind not in "iu":
        return
    info = np.iinfo(dtype)
    if low < info.min or high - 1 > info.max:
        raise OverflowError(f"{what}: the range [{low}, {high}) does not fit in {dtype.name} "
                            f"({info.min}..{info.max}); use a wider dtype or a smaller range")

# The samplers, by name: the same functions as nd.random's (see the module docstring).
_SAMPLERS = {name: ("gpuparams.nd.random", name)
             for name in ("uniform", "normal", "randn", "randint", "shuffle", "multinomial", "poisson",
                          "exponential", "gamma", "negative_binomial")}
__getattr__, __dir__ = lazy_attributes(globals(), _SAMPLERS)

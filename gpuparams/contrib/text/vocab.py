"""``gpuparams.contrib.text.vocab``: MXNet's ``mx.contrib.text.vocab``, not supported yet.

Each name raises :class:`~gpuparams.errors.NotSupportedError` when called.
"""
from ..._unsupported import module_getattr, stub

_WHY = "MXNet's text toolkit is not ported"

__all__ = [
    "Vocabulary",
]

Vocabulary = stub("gpuparams.contrib.text.vocab.Vocabulary", _WHY)

__getattr__ = module_getattr(globals(), "gpuparams.contrib.text.vocab")

"""``gpuparams.contrib.text.utils``: MXNet's ``mx.contrib.text.utils``, not supported yet.

Each name raises :class:`~gpuparams.errors.NotSupportedError` when called.
"""
from ..._unsupported import module_getattr, stub

_WHY = "MXNet's text toolkit is not ported"

__all__ = [
    "count_tokens_from_str",
]

count_tokens_from_str = stub("gpuparams.contrib.text.utils.count_tokens_from_str", _WHY)

__getattr__ = module_getattr(globals(), "gpuparams.contrib.text.utils")

"""``gpuparams.contrib.text``: MXNet's ``mx.contrib.text`` (vocabularies and pretrained embeddings) is
not supported yet.

The package and its modules ``embedding``, ``vocab`` and ``utils`` exist so that code importing them at
module level (``from mxnet.contrib import text``, as the ``d2l`` package does) imports after the port;
their functions raise :class:`~gpuparams.errors.NotSupportedError` when called.
"""
from ..._unsupported import module_getattr
from . import embedding, utils, vocab

__all__ = ["embedding", "utils", "vocab"]
__getattr__ = module_getattr(globals(), "gpuparams.contrib.text")

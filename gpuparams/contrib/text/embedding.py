"""``gpuparams.contrib.text.embedding``: MXNet's ``mx.contrib.text.embedding``, not supported yet.

Each name raises :class:`~gpuparams.errors.NotSupportedError` when called.
"""
from ..._unsupported import module_getattr, stub

_WHY = "MXNet's text toolkit is not ported"

__all__ = [
    "create", "get_pretrained_file_names", "register", "TokenEmbedding", "GloVe", "FastText",
    "CustomEmbedding", "CompositeEmbedding",
]

create = stub("gpuparams.contrib.text.embedding.create", _WHY)
get_pretrained_file_names = stub("gpuparams.contrib.text.embedding.get_pretrained_file_names", _WHY)
register = stub("gpuparams.contrib.text.embedding.register", _WHY)
TokenEmbedding = stub("gpuparams.contrib.text.embedding.TokenEmbedding", _WHY)
GloVe = stub("gpuparams.contrib.text.embedding.GloVe", _WHY)
FastText = stub("gpuparams.contrib.text.embedding.FastText", _WHY)
CustomEmbedding = stub("gpuparams.contrib.text.embedding.CustomEmbedding", _WHY)
CompositeEmbedding = stub("gpuparams.contrib.text.embedding.CompositeEmbedding", _WHY)

__getattr__ = module_getattr(globals(), "gpuparams.contrib.text.embedding")

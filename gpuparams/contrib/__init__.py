"""``gpuparams.contrib``: MXNet's ``mx.contrib`` namespace; only ``contrib.text`` exists, as stubs."""
from .._unsupported import module_getattr
from . import text

__all__ = ["text"]
__getattr__ = module_getattr(globals(), "gpuparams.contrib")

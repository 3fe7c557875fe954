"""gpuparams: a GPU-first deep-learning framework with the Gluon programming model.

>>> import gpuparams as gp
>>> from gpuparams import nd, autograd
>>> x = nd.ones((2, 3), ctx=gp.cpu())
"""
from .context import Context, cpu, gpu, current_context, num_gpus
from . import random
from .ndarray import NDArray
from . import autograd, nd

__version__ = "0.1.0"

__all__ = ["Context", "cpu", "gpu", "current_context", "num_gpus", "random", "NDArray", "autograd",
           "nd", "__version__"]

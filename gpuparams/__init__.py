"""gpuparams: a GPU-first deep-learning framework with the Gluon programming model."""
from .context import Context, cpu, gpu, current_context, num_gpus

__version__ = "0.1.0"

"""MXNet's ``mxnet.base`` names that user code touches: ``MXNetError``, for code that catches it.

>>> import gpuparams as gp
>>> issubclass(gp.errors.ShapeError, gp.base.MXNetError)
True
"""
from .errors import GpuparamsError

__all__ = ["MXNetError"]

#: The base class of every gpuparams error (``except mx.base.MXNetError`` keeps working after the
#: port). MXNet raises MXNetError for almost every failure; we raise specific subclasses that also
#: derive from the matching built-in (ValueError, TypeError, ...), so catching either works.
MXNetError = GpuparamsError

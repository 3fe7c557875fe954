"""The NumPy array that ``asnumpy()`` returns for a one-element NDArray.

MXNet has no 0-d arrays: ``l.mean()`` has shape ``(1,)``, and MXNet code prints it with
``'%f' % l.mean().asnumpy()`` (the linear-regression chapter of *Dive into Deep Learning* does). That
calls ``float()`` on a 1-element NumPy array, which NumPy deprecated in 1.25 and refuses from 2.4 on
(``TypeError: only 0-dimensional arrays can be converted to Python scalars``). :class:`OneElementArray`
is an ``ndarray`` subclass that keeps accepting ``float()``, ``int()`` and ``complex()`` for exactly
one element, on every NumPy, so the idiom works while ``mean()`` keeps MXNet's shape ``(1,)``.

Everything else is plain NumPy: NumPy functions and arithmetic on it return ordinary ``ndarray``
objects (``__array_wrap__``), and it pickles as an ordinary ``ndarray``.
"""
from __future__ import annotations

import numpy as np

__all__ = ["OneElementArray", "host_array"]


class OneElementArray(np.ndarray):
    """An ``ndarray`` of one element that converts to a Python number (``float(a)``, ``'%f' % a``)."""

    def __float__(self):
        return float(self.reshape(())[()])

    def __int__(self):
        return int(self.reshape(())[()])

    def __complex__(self):
        return complex(self.reshape(())[()])

    def __array_wrap__(self, array, context=None, return_scalar=False):
        # Results of ufuncs and NumPy functions are ordinary arrays: the subclass stays at the edge.
        out = array.view(np.ndarray) if isinstance(array, np.ndarray) else array
        return out[()] if return_scalar else out

    def __repr__(self):  # printed as the plain array it is, not under the subclass's name
        return repr(self.view(np.ndarray))

    def __reduce__(self):
        return self.view(np.ndarray).__reduce__()


def host_array(data):
    """``data`` (a host NumPy array that the caller owns) as what ``asnumpy()`` returns."""
    if data.size == 1 and data.ndim > 0:
        return data.view(OneElementArray)
    return data

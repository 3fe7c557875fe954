"""Saying "not supported yet" for MXNet names gpuparams lacks, instead of a bare AttributeError.

Two tools: :func:`missing_name` builds the error for a failed attribute lookup (with close matches,
for typos), and :func:`stub` builds a function that raises when *called*, so that a module MXNet code
imports at module level (``from mxnet import image``) imports, and fails only where it is used.
"""
from __future__ import annotations

import difflib

from .errors import NotSupportedError, UnsupportedNameError

__all__ = ["missing_name", "stub", "module_getattr"]


def missing_name(owner, name, available):
    """The :class:`UnsupportedNameError` for ``owner.name`` (``owner`` as the user writes it)."""
    close = difflib.get_close_matches(name, sorted(available), n=3)
    hint = f": did you mean {', '.join(close)}?" if close else ""
    return UnsupportedNameError(
        f"{owner}.{name} is not supported by gpuparams yet (or is misspelled{hint}); "
        f"see dir({owner}) for what exists")


def stub(qualname, why="not implemented in gpuparams yet"):
    """A function that raises :class:`NotSupportedError` naming ``qualname`` when called."""
    def unsupported(*args, **kwargs):
        raise NotSupportedError(f"{qualname} is not supported yet: {why}.")
    unsupported.__name__ = qualname.rsplit(".", 1)[-1]
    unsupported.__qualname__ = qualname
    unsupported.__doc__ = f"Not supported yet: calling it raises NotSupportedError ({why})."
    return unsupported


def module_getattr(namespace, owner):
    """A PEP 562 ``__getattr__`` for a module whose missing names raise :func:`missing_name`."""
    def __getattr__(name):
        if name.startswith("__"):  # Python's own probes (__path__, __file__ ...): the usual error
            raise AttributeError(f"module {owner!r} has no attribute {name!r}")
        raise missing_name(owner, name, [key for key in namespace if not key.startswith("_")])
    return __getattr__

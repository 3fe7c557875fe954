"""MXNet's submodule paths below ``gluon`` (``mxnet.gluon.data.sampler``, ``mxnet.gluon.nn.basic_layers``,
``mxnet.gluon.trainer`` ...) as import paths of gpuparams, and a clear error for those we lack.

``gpuparams.gluon.data`` *is* the module ``gpuparams.data`` and ``gpuparams.gluon.nn`` is ``gpuparams.nn``
(see ``gluon/data.py`` and ``gluon/nn.py``). Without help, ``import gpuparams.gluon.data.sampler``
would find ``gpuparams/data/sampler.py`` through that package's ``__path__`` and run it a second time
as a new module named ``gpuparams.gluon.data.sampler``, whose relative imports then look for
``gpuparams.gluon.random`` and fail. The finder installed here answers such names with the module of
the real name instead (one module, two names, like the package-level aliases), and answers the MXNet
modules gpuparams does not implement (``gluon.rnn``, ``gluon.nn.conv_layers`` ...) with
:class:`~gpuparams.errors.UnsupportedModuleError`, an ``ImportError`` that says so.
"""
from __future__ import annotations

import importlib
import importlib.abc
import importlib.util
import sys

from .errors import NotSupportedError, UnsupportedModuleError, UnsupportedSubmoduleError

__all__ = ["ALIASES", "UNSUPPORTED", "install"]

#: MXNet-style name (a module and everything below it) -> the gpuparams module it stands for.
ALIASES = {
    "gpuparams.gluon.data": "gpuparams.data",
    "gpuparams.gluon.nn": "gpuparams.nn",
    "gpuparams.gluon.trainer": "gpuparams.trainer",
    "gpuparams.gluon.parameter": "gpuparams.parameter",
    # Not an MXNet path (there it is mx.lr_scheduler only), but gluon.lr_scheduler is an attribute
    # here, so its import form works too.
    "gpuparams.gluon.lr_scheduler": "gpuparams.lr_scheduler",
}

#: Real module names of MXNet 1.9.1 modules gpuparams lacks -> (the MXNet path, what they hold).
#: ``from gpuparams.gluon.nn import conv_layers`` imports ``gpuparams.nn.conv_layers`` (the name of
#: the package object), so entries are keyed by the names after :data:`ALIASES`.
UNSUPPORTED = {
    "gpuparams.gluon.rnn": ("gluon.rnn", "recurrent layers and cells: RNN, LSTM, GRU, ..."),
    "gpuparams.gluon.contrib": ("gluon.contrib", "experimental layers, estimators and data tools; "
                                                 "its IntervalSampler is gluon.data.IntervalSampler here"),
    "gpuparams.gluon.model_zoo": ("gluon.model_zoo", "pretrained networks"),
    "gpuparams.nn.conv_layers": ("gluon.nn.conv_layers",
                                 "convolution and pooling layers: Conv2D, MaxPool2D, ..."),
}

#: Aliases that are files of the package themselves (they register some submodules as they run).
_OWN_FILES = {"gpuparams.gluon.data", "gpuparams.gluon.nn"}


def _under(name, prefix):
    return name == prefix or name.startswith(prefix + ".")


def _real_name(fullname):
    """``fullname`` with an MXNet-style prefix replaced by the module it stands for."""
    for alias, target in ALIASES.items():
        if _under(fullname, alias):
            return target + fullname[len(alias):]
    return fullname


class _AliasLoader(importlib.abc.Loader):
    """Loads an alias by importing the real module and putting *it* into ``sys.modules`` under the
    alias: the import system returns whatever ``sys.modules`` holds once ``exec_module`` is done."""

    def __init__(self, target):
        self.target = target

    def create_module(self, spec):
        return None  # a throw-away module; exec_module replaces it

    def exec_module(self, module):
        sys.modules[module.__name__] = importlib.import_module(self.target)


class _GluonPathFinder(importlib.abc.MetaPathFinder):
    """Answers ``gpuparams.gluon.*`` names that the files of the package do not: aliases and the
    "not supported yet" modules (everything else is left to Python's own finders)."""

    def find_spec(self, fullname, path=None, target=None):
        if not fullname.startswith("gpuparams."):
            return None
        real = _real_name(fullname)
        for name, (mxnet_path, holds) in UNSUPPORTED.items():
            if _under(real, name):
                path = mxnet_path + real[len(name):]
                owner = "gpuparams." + path.rsplit(".", 1)[0]
                raise UnsupportedModuleError(
                    f"gpuparams.{path} is not supported by gpuparams yet (MXNet's mxnet.{path}: "
                    f"{holds}); see dir({owner}) for what exists", name=fullname)
        if real == fullname or fullname in _OWN_FILES:
            return None
        try:
            spec = importlib.util.find_spec(real)
        except UnsupportedSubmoduleError:  # said below for the name the user wrote (_MissingNameFinder)
            spec = None
        if spec is None:
            return None  # no such module under either name: Python's usual ModuleNotFoundError
        return importlib.util.spec_from_loader(fullname, _AliasLoader(real))


class _MissingNameFinder(importlib.abc.MetaPathFinder):
    """The last finder: a ``gpuparams.<pkg>.<name>`` that no finder found is looked up on the package,
    and where the package says the name is not supported yet, that message is the import error.

    ``from gpuparams.gluon.nn import Conv2D`` and ``from gpuparams import metric`` import such a name as
    a submodule once the attribute lookup fails, and Python replaces the lookup's
    :class:`~gpuparams.errors.UnsupportedNameError` by a bare "cannot import name"; raising
    :class:`~gpuparams.errors.UnsupportedSubmoduleError` (a ``ModuleNotFoundError``) here keeps it.
    """

    def find_spec(self, fullname, path=None, target=None):
        if not fullname.startswith("gpuparams."):
            return None
        parent_name, _, name = fullname.rpartition(".")
        parent = sys.modules.get(parent_name)
        namespace = getattr(parent, "__dict__", {})
        hook = namespace.get("__getattr__")
        if hook is None or name.startswith("_") or name in namespace:
            return None  # (an attribute that is not a module: Python's usual error)
        try:
            hook(name)
        except NotSupportedError as exc:  # UnsupportedNameError: the package's "not supported yet"
            raise UnsupportedSubmoduleError(f"No module named {fullname!r}: {exc}") from None
        except Exception:  # anything else is not ours to report: Python's usual error
            return None
        return None  # the package has it, as an attribute that is not a module


_FINDER = _GluonPathFinder()
_LAST = _MissingNameFinder()


def install():
    """Put the alias finder first on ``sys.meta_path`` and the missing-name finder last (once;
    idempotent)."""
    if not any(isinstance(f, _GluonPathFinder) for f in sys.meta_path):
        sys.meta_path.insert(0, _FINDER)
    if not any(isinstance(f, _MissingNameFinder) for f in sys.meta_path):
        sys.meta_path.append(_LAST)

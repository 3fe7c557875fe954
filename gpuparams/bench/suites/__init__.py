"""The benchmark suites: ``kernels`` and ``train`` (GPU), ``cpu`` (host).

Each suite module has ``DEVICE`` (``"gpu"`` or ``"cpu"``), ``DESCRIPTION`` and ``cases(env)`` returning
a list of :class:`gpuparams.bench.harness.Case`.
"""
from __future__ import annotations

import importlib

from ._common import SuiteEnv

__all__ = ["SUITES", "load_suite", "SuiteEnv"]

#: Suite names in the order ``--suite all`` runs them.
SUITES = ("kernels", "train", "cpu")


def load_suite(name):
    """The suite module called ``name``.

    Raises
    ------
    ValueError
        For an unknown name (the message lists the known ones).
    """
    if name not in SUITES:
        raise ValueError(f"unknown suite {name!r}: choose from {', '.join(SUITES)} or 'all'")
    return importlib.import_module(f"{__name__}.{name}")

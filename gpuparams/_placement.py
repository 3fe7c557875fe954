"""Internal: where parameter values and optimizer states go.

``context_list`` turns the ``ctx=`` argument of ``initialize`` / ``reset_ctx`` / ``load`` into a
checked list of contexts; ``host_to_context`` puts host (NumPy) values there. Both are shared by
``parameter``, ``serialization`` and ``trainer``.
"""
from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from . import backend
from .context import Context, cpu, current_context
from ._ndarray import copy_to_context

ContextArg = Context | Sequence[Context] | None
"""What a ``ctx=`` argument accepts: one Context, a list of them, or None (the current context)."""


def context_list(ctx: ContextArg, what: str) -> list[Context]:
    """``ctx`` (None, a Context, or a list of them) as a list of distinct, usable Contexts.

    ``what`` starts every error message (e.g. ``"initialize Parameter 'w'"``).
    """
    if ctx is None:
        return [current_context()]
    if isinstance(ctx, (list, tuple)):
        contexts = list(ctx)
        if not contexts:
            raise ValueError(f"{what}: ctx is an empty list; give at least one context, e.g. [gp.cpu(0)]")
        for c in contexts:
            if not isinstance(c, Context):
                raise TypeError(f"{what}: ctx must hold Contexts (gp.cpu(i), gp.gpu(i)), got {c!r}")
        if len(set(contexts)) != len(contexts):
            raise ValueError(f"{what}: ctx lists a context twice: {contexts}")
    elif isinstance(ctx, Context):
        contexts = [ctx]
    else:
        raise TypeError(f"{what}: ctx must be a Context or a list of Contexts, got {ctx!r}")
    for c in contexts:
        backend.array_module(c)  # an unusable gpu(i) fails here, before anything changes
    return contexts


def host_to_context(host: Any, ctx: Context) -> Any:
    """Host NumPy values as a backend array on ``ctx`` (the same buffer when ``ctx`` is the host)."""
    if ctx.device_type == "cpu":
        return host
    return copy_to_context(host, cpu(0), ctx)

"""Internal: shapes whose dimensions may not be known yet (0 marks an unknown dimension).

Parameters, blocks and the trainer all reason about partly known shapes (deferred initialization);
these two rules live here so that each of them has one definition.
"""
from __future__ import annotations

Shape = tuple[int, ...]


def shape_is_known(shape: Shape | None) -> bool:
    """Whether every dimension of ``shape`` is known (none is 0, and there is a shape at all)."""
    return shape is not None and all(d > 0 for d in shape)


def merge_partial_shapes(known: Shape | None, incoming: Shape | None) -> Shape | None:
    """Fill the 0 dimensions of each shape from the other; None when they conflict.

    >>> merge_partial_shapes((3, 0), (0, 4))
    (3, 4)
    >>> merge_partial_shapes((3, 2), (3, 4)) is None
    True
    """
    if known is None or incoming is None:
        return incoming if known is None else known
    if len(known) != len(incoming):
        return None
    merged = []
    for a, b in zip(known, incoming, strict=True):
        if a and b and a != b:
            return None
        merged.append(a or b)
    return tuple(merged)

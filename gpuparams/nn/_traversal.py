"""Internal: the one walk over a Block tree.

Every feature that needs "all the blocks" or "all the parameters" of a model goes through
:func:`walk`: ``collect_params``, the structural names of parameter files, ``share_parameters``,
``summary`` and ``apply``. Keeping one walk keeps their orders and their rules (which names a
Parameter has, where a tied one appears) the same.

Order: a block, then its own parameters, then its children in registration order (depth first);
``children_first=True`` visits a block after its children instead (``apply``). Within a block, its
Parameters come in the order of its ParameterDict, then those only held in attributes; each
Parameter is yielded once per structural name it has in that block. A tied Parameter therefore
appears once per place that holds it; consumers that list Parameters once dedupe by identity.
"""
from __future__ import annotations

from collections.abc import Iterator
from typing import TYPE_CHECKING, NamedTuple

if TYPE_CHECKING:
    from ..parameter import Parameter
    from .block import Block


class TreeEntry(NamedTuple):
    """One step of :func:`walk`.

    ``param is None`` marks the visit of a block: ``name`` is then its structural path (``''`` for
    the root, ``'0'``, ``'0.hidden'``) and ``owner`` the block. Otherwise ``name`` is the
    parameter's structural name (``'0.weight'``), ``owner`` the block holding it, and ``attr`` the
    attribute it is held in (None for a parameter only in the block's ParameterDict, named by its
    local name, the full name without the dict's prefix). ``name`` is None for a dict-only
    Parameter whose local name an attribute of the block already uses: it is collected and
    trained, but has no structural name (so no place in files).
    """

    name: str | None
    owner: Block
    attr: str | None
    param: Parameter | None


def walk(block: Block, children_first: bool = False, with_params: bool = True,
         path: str = "") -> Iterator[TreeEntry]:
    """Yield a :class:`TreeEntry` for every block of the tree and every parameter name in it.

    Parameters
    ----------
    block : Block
        The root.
    children_first : bool
        Visit each block after its descendants (and then its parameters) instead of before.
    with_params : bool
        False yields only the block visits.
    path : str
        Structural path of ``block`` itself (``''`` for a root).
    """
    if not children_first:
        yield TreeEntry(path, block, None, None)
        if with_params:
            yield from _own_entries(block, path)
    dotted = path + "." if path else ""
    for child_name, child in block._children.items():
        yield from walk(child, children_first, with_params, dotted + child_name)
    if children_first:
        yield TreeEntry(path, block, None, None)
        if with_params:
            yield from _own_entries(block, path)


def own_params(block: Block) -> list[Parameter]:
    """The block's own Parameters, each once: its ParameterDict's, then attribute-only ones."""
    own = {id(p): p for p in block._params._params.values()}
    for p in block._reg_params.values():
        own.setdefault(id(p), p)
    return list(own.values())


def _own_entries(block: Block, path: str) -> Iterator[TreeEntry]:
    """The block's own Parameters (in :func:`own_params` order), under each of their names.

    A Parameter held in attributes is named by them (in assignment order); one only in the dict
    is named by its local name, unless an attribute already uses that name.
    """
    dotted = path + "." if path else ""
    attrs_of: dict[int, list[str]] = {}
    for attr, p in block._reg_params.items():
        attrs_of.setdefault(id(p), []).append(attr)
    prefix = block._params.prefix
    for p in own_params(block):
        attrs = attrs_of.get(id(p))
        if attrs:
            for attr in attrs:
                yield TreeEntry(dotted + attr, block, attr, p)
            continue
        local = p.name[len(prefix):] if p.name.startswith(prefix) else p.name
        yield TreeEntry(None if local in block._reg_params else dotted + local, block, None, p)

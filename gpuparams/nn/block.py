"""Blocks: the containers of parameters and child blocks that models are built from.

Naming follows Gluon 1.x. A block created at the top level gets ``<class name lowercased><n>_`` from a
process-wide counter per class name (``dense0_``, ``dense1_``, ``sequential0_``); a block created
inside ``with parent.name_scope():`` gets ``parent.prefix`` plus a counter kept by that parent
(``mlp0_dense0_``). Parameter names are the block's params prefix plus a local name
(``dense0_weight``).

Assigning a Block or a Parameter to an attribute registers it, in definition order; that order drives
``collect_params``, ``repr`` and the *structural* names used by parameter files (``0.weight``,
``hidden.bias``), which do not depend on the counters. Every walk over the tree (``collect_params``,
files, ``share_parameters``, ``summary``, ``apply``) is the one generator in ``nn/_traversal.py``.

Deferred initialization: before ``forward`` runs, a block whose own parameters wait for their shape
calls its :meth:`Block.infer_shape` hook with the inputs, then initializes the parameters whose shape
became known.
"""
from __future__ import annotations

import os
import re
import threading
import warnings
from collections import OrderedDict
from collections.abc import Callable, Mapping
from typing import Any

import numpy as np

from .. import autograd
from .. import _front
from .. import initializer as _initializer
from .._placement import ContextArg
from .._shapes import merge_partial_shapes, shape_is_known
from .._text import indent_continuation
from .._tracing import state as _trace_state
from .._tracing import suspended as _untraced
from .._ndarray import NDArray
from ..parameter import Parameter, ParameterDict
from ..serialization import load_arrays, load_checked_into, save_arrays
from ._traversal import own_params, walk

__all__ = ["Block", "HybridBlock", "NameManager"]


class NameManager:
    """Counters behind automatic block prefixes, one per class name.

    The process-wide default manager is used unless a ``with NameManager():`` block is active in
    the current thread, in which case counting starts afresh inside it (as ``mx.name.NameManager``
    does); handy for reproducible names in tests and notebooks.

    Examples
    --------
    >>> from gpuparams import nn
    >>> with nn.NameManager():
    ...     nn.Dense(3).prefix
    'dense0_'
    """

    _local = threading.local()

    def __init__(self):
        self._counters = {}
        self._lock = threading.Lock()

    def next_prefix(self, hint: str) -> str:
        """Return ``hint<n>_`` and advance the counter of ``hint``."""
        with self._lock:
            count = self._counters.get(hint, 0)
            self._counters[hint] = count + 1
        return f"{hint}{count}_"

    @classmethod
    def current(cls) -> NameManager:
        """The manager in effect in this thread."""
        stack = getattr(cls._local, "stack", None)
        return stack[-1] if stack else _DEFAULT_NAMES

    def __enter__(self):
        stack = getattr(NameManager._local, "stack", None)
        if stack is None:
            stack = NameManager._local.stack = []
        stack.append(self)
        return self

    def __exit__(self, *exc):
        NameManager._local.stack.pop()
        return False


_DEFAULT_NAMES = NameManager()


class _BlockScope:
    """``block.name_scope()``: children created inside get the block's prefix and its counters."""

    _local = threading.local()

    def __init__(self, block):
        self._block = block
        self._counters = {}
        self._saved = []

    @staticmethod
    def current():
        return getattr(_BlockScope._local, "value", None)

    @staticmethod
    def create(prefix, params, hint):
        """Return ``(prefix, ParameterDict)`` for a new block of class alias ``hint``."""
        if params is not None and not isinstance(params, ParameterDict):
            raise TypeError(f"params must be a ParameterDict (e.g. other_block.params), got "
                            f"{type(params).__name__}")
        scope = _BlockScope.current()
        if scope is None:
            if prefix is None:
                prefix = NameManager.current().next_prefix(hint)
            params = ParameterDict(prefix) if params is None else ParameterDict(params.prefix, params)
            return prefix, params
        if prefix is None:
            count = scope._counters.get(hint, 0)
            scope._counters[hint] = count + 1
            prefix = f"{hint}{count}_"
        if params is None:
            parent = scope._block.params
            params = ParameterDict(parent.prefix + prefix, parent._shared)
        else:
            params = ParameterDict(params.prefix, params)
        return scope._block.prefix + prefix, params

    def __enter__(self):
        if self._block._empty_prefix:
            return self
        self._saved.append(_BlockScope.current())
        _BlockScope._local.value = self
        return self

    def __exit__(self, *exc):
        if not self._block._empty_prefix:
            _BlockScope._local.value = self._saved.pop()
        return False


class HookHandle:
    """Returned by ``register_forward_hook``; :meth:`detach` removes the hook."""

    _next_id = 0

    def __init__(self, hooks, hook):
        HookHandle._next_id += 1
        self._id = HookHandle._next_id
        self._hooks = hooks
        hooks[self._id] = hook

    def detach(self) -> None:
        """Remove the hook (idempotent)."""
        self._hooks.pop(self._id, None)

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        self.detach()
        return False


def _hides_block(value, registered):
    """Whether a list/tuple/dict (possibly nested) holds a Block that is not a registered child."""
    if isinstance(value, (list, tuple)):
        return any(_hides_block(v, registered) for v in value)
    if isinstance(value, dict):
        return any(_hides_block(v, registered) for v in value.values())
    return isinstance(value, Block) and id(value) not in registered


class Block:
    """Base class of layers and models.

    Subclass it, create child blocks and parameters in ``__init__`` (after ``super().__init__()``)
    by assigning them to attributes, and implement :meth:`forward`. Parameters of a custom block come
    from ``self.params.get('weight', shape=(a, b))``.

    Parameters
    ----------
    prefix : str, optional
        Prefix of this block's name and of its parameters' names. Default: an automatic one
        (``mydense0_``); ``''`` disables prefixing and makes :meth:`name_scope` a no-op.
    params : ParameterDict, optional
        Share parameters: ``params=other.params`` makes this block use ``other``'s Parameter objects
        (same names, same arrays, gradients summed over both uses).

    Examples
    --------
    >>> from gpuparams import nn, nd
    >>> class MLP(nn.Block):
    ...     def __init__(self, **kwargs):
    ...         super().__init__(**kwargs)
    ...         self.hidden = nn.Dense(4, activation='relu')
    ...         self.output = nn.Dense(2)
    ...     def forward(self, x):
    ...         return self.output(self.hidden(x))
    """

    def __init__(self, prefix: str | None = None, params: ParameterDict | None = None):
        self._empty_prefix = prefix == ""
        self._prefix, self._params = _BlockScope.create(prefix, params, self._alias())
        self._name = self._prefix[:-1] if self._prefix.endswith("_") else self._prefix
        self._scope = _BlockScope(self)
        self._children = OrderedDict()
        self._reg_params = OrderedDict()
        self._forward_hooks = OrderedDict()
        self._forward_pre_hooks = OrderedDict()

    def _alias(self):
        """The name counted for automatic prefixes (the class name, lowercased)."""
        return type(self).__name__.lower()

    # ------------------------------------------------------------------ registration
    def __setattr__(self, name, value):
        existing = self.__dict__.get(name)
        if isinstance(existing, (Block, Parameter)) and not isinstance(value, type(existing)):
            raise TypeError(f"cannot change attribute {type(self).__name__}.{name} from "
                            f"{type(existing).__name__} to {type(value).__name__}")
        if isinstance(value, (Block, Parameter)):
            if "_children" not in self.__dict__:
                raise RuntimeError(f"{type(self).__name__}.{name}: call super().__init__() before "
                                   "assigning child blocks or parameters")
            if isinstance(value, Block):
                self.register_child(value, name)
            else:
                registered = self._reg_params.get(name)
                if registered is not None and registered is not value:
                    raise ValueError(f"{type(self).__name__}.{name} already holds Parameter "
                                     f"{registered.name!r}; to use another block's parameters, build "
                                     "this block with params=other.params or call share_parameters()")
                self._reg_params[name] = value
        object.__setattr__(self, name, value)

    def register_child(self, block: Block, name: str | None = None) -> None:
        """Register ``block`` as a child under ``name`` (default: its position, ``'0'``, ``'1'`` ...)."""
        if not isinstance(block, Block):
            raise TypeError(f"register_child expects a Block, got {type(block).__name__}")
        if name is None:
            name = str(len(self._children))
        self._children[name] = block

    def register_forward_pre_hook(self, hook: Callable[[Block, tuple], None]) -> HookHandle:
        """Call ``hook(block, inputs)`` before each forward; returns a :class:`HookHandle`."""
        return HookHandle(self._forward_pre_hooks, hook)

    def register_forward_hook(self, hook: Callable[[Block, tuple, Any], None]) -> HookHandle:
        """Call ``hook(block, inputs, output)`` after each forward; returns a :class:`HookHandle`."""
        return HookHandle(self._forward_hooks, hook)

    # ------------------------------------------------------------------ names
    @property
    def prefix(self) -> str:
        """Prefix of this block's name and (unless shared) of its parameters' names."""
        return self._prefix

    @property
    def name(self) -> str:
        """The prefix without its trailing underscore (``dense0``)."""
        return self._name

    @property
    def params(self) -> ParameterDict:
        """This block's own ParameterDict (without its children's; see :meth:`collect_params`)."""
        return self._params

    def name_scope(self) -> _BlockScope:
        """A ``with`` block in which child blocks get this block's prefix (``mlp0_dense0_``)."""
        return self._scope

    # ------------------------------------------------------------------ parameters
    def _own_params(self):
        """This block's own Parameters, each once: its params dict, then attribute-only ones."""
        return own_params(self)

    def _check_container_with_block(self):
        registered = {id(b) for b in self._children.values()}
        for key, value in self.__dict__.items():
            if key.startswith("__") or key == "_children" or not isinstance(value, (list, tuple, dict)):
                continue
            if _hides_block(value, registered):
                warnings.warn(
                    f'"{type(self).__name__}.{key}" is a container holding Blocks that are not '
                    "registered: their parameters are not collected, initialized or saved. Use "
                    "nn.Sequential, or call register_child() for each of them", stacklevel=4)

    def collect_params(self, select: str | None = None) -> ParameterDict:
        """A ParameterDict of this block's and all descendants' parameters, each listed once.

        Parameters
        ----------
        select : str, optional
            Regular expression; only parameters whose full name it matches from the start
            (``re.match``) are kept, e.g. ``'.*weight'`` or ``'dense0_|dense1_'``.
        """
        if select is not None and not isinstance(select, (str, re.Pattern)):
            raise TypeError(f"collect_params: select must be a regular expression string, got "
                            f"{type(select).__name__} {select!r}")
        try:
            pattern = re.compile(select) if select else None
        except re.error as exc:
            where = f" at position {exc.pos}" if getattr(exc, "pos", None) is not None else ""
            reason = getattr(exc, "msg", str(exc))
            raise ValueError(f"collect_params: select={select!r} is not a valid regular expression "
                             f"({reason}{where}); escape literal characters with re.escape()") from None
        result = ParameterDict(self._params.prefix)
        for entry in walk(self):
            p = entry.param
            if p is None:
                entry.owner._check_container_with_block()
            elif pattern is None or pattern.match(p.name):
                result.update({p.name: p})  # refuses a second, different Parameter of that name
        return result

    def _structural_params(self):
        """``{structural name: Parameter}`` over the tree (a tied Parameter appears under each name)."""
        out = OrderedDict()
        for entry in walk(self):
            if entry.param is not None and entry.name is not None:
                out.setdefault(entry.name, entry.param)
        return out

    def _grouped_structural_params(self):
        """``[(first structural name, Parameter, all its structural names)]``, one per Parameter."""
        groups = OrderedDict()
        for key, p in self._structural_params().items():
            if id(p) in groups:
                groups[id(p)][2].append(key)
            else:
                groups[id(p)] = (key, p, [key])
        return list(groups.values())

    def initialize(self, init: _initializer.Initializer | str = _initializer.Uniform(),  # noqa: B008 (MXNet's default; initializers keep no state)
                   ctx: ContextArg = None, verbose: bool = False, force_reinit: bool = False) -> None:
        """Initialize every parameter of the tree (see ``ParameterDict.initialize``).

        Precedence: ``param.initialize(init=...)`` > a parameter's own ``init`` (e.g. Dense's bias
        ``'zeros'``) > this ``init`` > ``init.Uniform()``. Parameters whose shape is not known yet are
        initialized at the first forward pass, on ``ctx``.
        """
        self.collect_params().initialize(init, ctx, verbose, force_reinit)

    def reset_parameters(self) -> None:
        """Draw this block's own parameters again with the initializers that drew them first.

        Only the block's own parameters change (not its children's); to reset a whole model use
        ``net.apply(lambda block: block.reset_parameters())``. Parameters whose initialization is
        still deferred are left to it.
        """
        for p in self._own_params():
            if p._pending is not None and p._data is None:
                continue
            p._reinitialize()

    def zero_grad(self) -> None:
        """Zero the gradient buffers of every parameter of the tree, in place."""
        self.collect_params().zero_grad()

    def reset_ctx(self, ctx: ContextArg) -> None:
        """Move every parameter of the tree to ``ctx`` (a Context or a list of them)."""
        self.collect_params().reset_ctx(ctx)

    def cast(self, dtype: Any) -> None:
        """Convert every parameter of the tree to ``dtype`` (hybridized graphs are traced again)."""
        for p in self.collect_params().values():
            p.cast(dtype)
        self._clear_cached_graphs()

    def apply(self, fn: Callable[[Block], Any]) -> Block:
        """Call ``fn(block)`` on every descendant (children first) and on this block; returns self."""
        for entry in walk(self, children_first=True, with_params=False):
            fn(entry.owner)
        return self

    def share_parameters(self, shared: Block | Mapping[str, Parameter]) -> Block:
        """Use the given Parameter objects in place of this tree's own (tying them).

        From then on the block reads and trains the shared Parameters (their values, contexts and
        initialization state); its former ones are dropped.

        Parameters
        ----------
        shared : Block or dict
            A block (its parameters are matched by structural name, e.g. ``'0.weight'``), or a dict
            ``{structural name: Parameter}``.

        Returns
        -------
        Block
            ``self``.

        Raises
        ------
        KeyError
            For a name this tree does not have (the message lists the names it has).
        ValueError
            When shapes or dtypes cannot be reconciled.
        """
        if isinstance(shared, Block):
            shared = shared._structural_params()
        owners = {}
        for entry in walk(self):
            if entry.attr is not None:
                owners.setdefault(entry.name, (entry.owner, entry.attr))
        unknown = [k for k in shared if k not in owners]
        if unknown:
            hint = ""
            if isinstance(shared, ParameterDict):
                # Gluon 2 code passes other.collect_params(), whose keys are structural there; ours
                # are full names (dense0_weight), so point at the two forms that work.
                hint = ("; a ParameterDict is keyed by full names, so pass the other block itself "
                        "(share_parameters(other_block)) or a dict such as {'weight': other.weight}")
            raise KeyError(f"share_parameters: {type(self).__name__} has no parameter named "
                           f"{', '.join(map(repr, unknown))}; its structural names are {list(owners)}"
                           + hint)
        plan = []
        for key, new in shared.items():  # check everything first: a bad entry changes nothing
            if not isinstance(new, Parameter):
                raise TypeError(f"share_parameters: {key!r} maps to {type(new).__name__}, not a Parameter")
            block, attr = owners[key]
            old = block._reg_params[attr]
            merged = merge_partial_shapes(new.shape, old.shape)
            if merged is None:
                raise ValueError(f"share_parameters: {key!r} has shape {old.shape} here but the shared "
                                 f"Parameter {new.name!r} has shape {new.shape}")
            if old.dtype != new.dtype:
                raise ValueError(f"share_parameters: {key!r} is {old.dtype.name} here but the shared "
                                 f"Parameter {new.name!r} is {new.dtype.name}")
            if old is not new:
                plan.append((block, attr, old, new, merged))
        for block, attr, old, new, merged in plan:
            if merged != new.shape:
                new.shape = merged
            block._reg_params[attr] = new
            object.__setattr__(block, attr, new)
            # Keep the dict's order (it drives collect_params and repr): swap the entry in place.
            entries = block._params._params
            block._params._params = {(new.name if k == old.name else k): (new if k == old.name else v)
                                     for k, v in entries.items()}
        if plan:
            self._clear_cached_graphs()  # traced plans hold the former Parameter objects
        return self

    # ------------------------------------------------------------------ files
    def save_parameters(self, filename: str | os.PathLike, deduplicate: bool = False) -> None:
        """Write every parameter to an ``.npz`` file keyed by structural name (``0.weight``).

        Parameters
        ----------
        filename : str or os.PathLike
        deduplicate : bool
            False (default, as MXNet): a tied parameter is written under each of its structural
            names. True: once, under its last structural name (the name MXNet 1.9.1 keeps).
            :meth:`load_parameters` reads both forms, and a model whose parameters are tied stays
            tied, each use taking the one stored value.

        The write is atomic: a crash or an exception leaves any previous file intact. In a
        multi-process job (after ``gpuparams.distributed.init()`` under ``mpirun``) only rank 0
        writes; the others return at once.
        """
        if not isinstance(deduplicate, bool):
            raise TypeError(f"save_parameters: deduplicate must be True or False, got {deduplicate!r}")
        from .. import distributed
        if not distributed._writes_files():
            return
        values = {}
        for first, p, _ in self._grouped_structural_params():
            try:
                values[id(p)] = p._reduce()
            except RuntimeError as exc:  # uninitialized / deferred: say which entry, keep the cause
                raise type(exc)(f"cannot save {first}: {exc}") from None
        arrays = OrderedDict()
        if deduplicate:
            for _, p, keys in self._grouped_structural_params():
                arrays[keys[-1]] = values[id(p)]
        else:
            for key, p in self._structural_params().items():
                arrays[key] = values[id(p)]
        save_arrays(filename, arrays)

    def load_parameters(self, filename: str | os.PathLike, ctx: ContextArg = None,
                        allow_missing: bool = False, ignore_extra: bool = False,
                        cast_dtype: bool = False, dtype_source: str = "current") -> None:
        """Load a file written by :meth:`save_parameters` into this model's existing parameters.

        The whole file is read, checked and converted first; any missing, extra, shape- or
        dtype-mismatched entry (or, with ``cast_dtype``, one that cannot be converted without
        changing its values) raises one ValueError listing them all (with both shapes), and a
        corrupt or truncated file raises ``ArrayFileError``, in both cases leaving the model
        untouched. Values are copied
        into the existing arrays, so tied parameters stay tied; parameters whose shape was not known
        yet take it from the file. Files of full names (``ParameterDict.save``) are accepted too.

        Parameters
        ----------
        filename : str or os.PathLike
        ctx : Context or list of Context, optional
            Where to put the parameters (default: where they are, or where ``initialize`` said,
            else the current context).
        allow_missing, ignore_extra, cast_dtype : bool
            See ``ParameterDict.load``.
        dtype_source : {'current', 'saved'}
            With ``cast_dtype``: keep each parameter's dtype (default) or take the file's.

        Both forms of :meth:`save_parameters` load: a tied parameter takes the value of whichever of
        its structural names the file holds (if it holds several, they must agree).
        """
        loaded = load_arrays(filename, kind="gpuparams parameter file")
        groups = self._grouped_structural_params()
        structural = {k for _, _, keys in groups for k in keys}
        if loaded and not structural.intersection(loaded) and not any("." in k for k in loaded):
            # A file of full names (collect_params().save()), possibly without this block's prefix.
            named = self.collect_params()
            entries = [(name, p, [name, name[len(self._prefix):]] if name.startswith(self._prefix)
                        else [name]) for name, p in named.items()]
        else:
            entries = groups
        load_checked_into(entries, loaded, filename, ctx, allow_missing, ignore_extra, cast_dtype,
                          dtype_source)

    # ------------------------------------------------------------------ running
    def __call__(self, *args: Any, **kwargs: Any) -> Any:
        if self._forward_pre_hooks:
            for hook in list(self._forward_pre_hooks.values()):
                hook(self, args)
        if _front._state["np"]:  # is_np_array(), inline: this runs on every block call
            # After npx.set_np() a block computes in np arrays; nd inputs are taken without a copy.
            args = tuple(_front.as_front(a) for a in args)
        if self._has_pending():
            with _untraced():  # initializers are not part of a hybridized graph
                self._finish_deferred(args, kwargs)
        out = self.forward(*args, **kwargs)
        if self._forward_hooks:
            for hook in list(self._forward_hooks.values()):
                hook(self, args, out)
        return out

    def _has_pending(self):
        # Runs on every call (the hot path): a plain scan without allocating anything.
        for group in (self._params._params, self._reg_params):
            for p in group.values():
                if p._data is None and p._pending is not None:
                    return True
        return False

    def _finish_deferred(self, args, kwargs):
        """Infer unknown parameter shapes from the first inputs and finish their initialization."""
        pending = [p for p in self._own_params() if p._data is None and p._pending is not None]
        if not all(shape_is_known(p.shape) for p in pending):
            with autograd.pause():
                self.infer_shape(*args, **kwargs)
        for p in pending:
            if shape_is_known(p.shape):
                p._finish_deferred_init()
        # Parameters still unknown stay deferred: forward's data() raises the error that says why.

    def infer_shape(self, *args: Any, **kwargs: Any) -> None:
        """Set the unknown (0) dimensions of this block's parameters from its inputs.

        Called once, before the first forward pass, when a parameter's initialization is waiting for
        its shape. Layers may override it (``Dense`` sets ``weight.shape = (units, features)``). A
        :class:`HybridBlock` infers the shapes from the operators of its ``hybrid_forward`` by
        default; a plain Block that creates parameters with unknown dimensions must override it
        (the Block default does nothing).
        """

    def forward(self, *args: Any) -> Any:
        """Compute the output; subclasses implement this (or MXNet's ``hybrid_forward``)."""
        if getattr(type(self), "hybrid_forward", None) is None:
            raise NotImplementedError(f"{type(self).__name__} must implement forward(self, x, ...)")
        from .. import nd
        x = args[0]
        ctx = x.context if isinstance(x, NDArray) else None
        params = {attr: p.data(ctx) for attr, p in self._reg_params.items()}
        return self.hybrid_forward(nd, *args, **params)

    def hybridize(self, active: bool = True, **kwargs: Any) -> None:
        """Hybridize the :class:`HybridBlock` children (recursively); a plain Block itself stays
        imperative, as in Gluon. See :meth:`HybridBlock.hybridize` for the arguments."""
        for child in self._children.values():
            child.hybridize(active, **kwargs)

    def _clear_cached_graphs(self):
        for entry in walk(self, with_params=False):
            plans = getattr(entry.owner, "_plans", None)
            if plans is not None:
                plans.clear()

    def summary(self, *inputs: Any) -> None:
        """Run ``inputs`` through the model and print each layer's output shape and parameter count.

        Layers are listed in the order they are called; a layer called again, or using parameters
        already counted (tied), is marked ``(shared)``. Runs in predict mode without recording.
        """
        rows, seen, handles = [], set(), []

        def before(block, args):
            rows.append([block, None, 0, 0, 0])

        def after(block, args, out):
            row = next(r for r in reversed(rows) if r[0] is block and r[1] is None)
            row[1] = _shape_text(out)
            for p in block._own_params():
                size = int(np.prod(p.shape))
                row[2] += size
                if p.grad_req != "null":
                    row[3] += size
                if id(p) in seen:
                    row[4] += size
                seen.add(id(p))

        def attach(block):
            if not isinstance(block, _sequential_types()):
                handles.append(block.register_forward_pre_hook(before))
                handles.append(block.register_forward_hook(after))

        self.apply(attach)  # the one tree walk, blocks only
        _trace_state.imperative += 1  # hybridized blocks too: a replay would call no child's hooks
        try:
            with autograd.pause(train_mode=False):
                self(*inputs)
        finally:
            _trace_state.imperative -= 1
            for handle in handles:
                handle.detach()
        print(_summary_table(self, inputs, rows))

    def __repr__(self):
        # As MXNet: the children held in attributes, under their attribute names. Blocks added to
        # ``_children`` by hand (D2L's MySequential) are not attributes and are not listed.
        lines = "\n".join(f"  ({key}): {indent_continuation(repr(value), 2)}"
                          for key, value in vars(self).items() if isinstance(value, Block))
        return f"{type(self).__name__}(\n{lines}\n)"


_HYBRID_FLAGS = ("static_alloc", "static_shape")
# Gluon 1.x tuning knobs of its own graph executor; accepted so that MXNet scripts run unchanged.
_IGNORED_FLAGS = ("backend", "backend_opts", "clear", "partition_if_dynamic", "inline_limit",
                  "forward_bulk_size", "backward_bulk_size")


class HybridBlock(Block):
    """A block whose computation is written once, as ``hybrid_forward(self, F, x, *args, **params)``,
    and can be traced into a static graph with :meth:`hybridize` (MXNet Gluon 1.x).

    ``F`` is the :mod:`gpuparams.nd` namespace; the block's own parameters arrive as keyword
    arguments under their attribute names (``weight=``, ``bias=``), already on the input's context
    and initialized (deferred shapes are inferred first, through :meth:`Block.infer_shape`).
    Children must be HybridBlocks too (checked by :meth:`hybridize`).

    Examples
    --------
    >>> from gpuparams import nn, nd
    >>> class Scale(nn.HybridBlock):
    ...     def __init__(self, **kwargs):
    ...         super().__init__(**kwargs)
    ...         self.s = self.params.get('s', shape=(1,), init='ones')
    ...     def hybrid_forward(self, F, x, s):
    ...         return F.broadcast_mul(x, s) + 1
    >>> blk = Scale(); blk.initialize(); blk.hybridize()
    >>> blk(nd.ones((2, 2))).asnumpy().tolist()
    [[2.0, 2.0], [2.0, 2.0]]
    """

    def __init__(self, prefix: str | None = None, params: ParameterDict | None = None):
        super().__init__(prefix, params)
        self._active = False
        self._flags = {"static_alloc": False, "static_shape": False}
        self._plans = OrderedDict()

    def register_child(self, block: Block, name: str | None = None) -> None:
        """Register ``block`` as a child (see :meth:`Block.register_child`); clears traced graphs."""
        super().register_child(block, name)
        self._plans.clear()

    def hybridize(self, active: bool = True, static_alloc: bool = False, static_shape: bool = False,
                  **kwargs: Any) -> None:
        """Trace ``hybrid_forward`` into a plan per input signature and replay it (recursively).

        Parameters
        ----------
        active : bool
            False returns the tree to imperative execution.
        static_alloc : bool
            Keep the plan's buffers between calls (needed for CUDA-graph capture).
        static_shape : bool
            Promise that input shapes do not change (needed for CUDA-graph capture).
        **kwargs
            MXNet's executor options (``inline_limit``, ``forward_bulk_size`` ...), accepted and
            ignored; anything else is a TypeError.

        Raises
        ------
        ValueError
            When a child is a plain :class:`Block` (as in MXNet: make it a HybridBlock, or use
            ``HybridSequential`` instead of ``Sequential``).

        Notes
        -----
        The first call with a new signature (input shapes, dtypes, contexts, training mode,
        recording) traces; later ones replay. Each block keeps :data:`gpuparams.graph.MAX_SIGNATURES`
        plans (least recently used evicted). See :mod:`gpuparams.graph`.
        """
        unknown = [k for k in kwargs if k not in _IGNORED_FLAGS]
        if unknown:
            raise TypeError(f"{type(self).__name__}.hybridize() got unexpected keyword arguments "
                            f"{unknown}; it takes active, static_alloc and static_shape")
        for key, child in self._children.items():
            if not isinstance(child, HybridBlock):
                raise ValueError(
                    f"Children of HybridBlock must also be HybridBlock, but child {key!r} of "
                    f"{self.name}, {type(child).__name__} ({child.name}), is a plain Block. Make it a "
                    "HybridBlock (implement hybrid_forward), or if you are using Sequential, please "
                    "try HybridSequential instead")
        self._active = bool(active)
        self._flags = {"static_alloc": bool(static_alloc), "static_shape": bool(static_shape)}
        self._plans.clear()
        for child in self._children.values():
            child.hybridize(active, static_alloc=static_alloc, static_shape=static_shape, **kwargs)

    def infer_shape(self, *args: Any, **kwargs: Any) -> None:
        """Infer the unknown (0) dimensions of this block's parameters from its first inputs, as
        MXNet's HybridBlock does: ``hybrid_forward`` runs once with each such parameter as a
        placeholder, and the operators that receive one fill in its dimensions from their other
        inputs (``FullyConnected``: ``(num_hidden, in_units)``; ``+ - * /``: the other operand's
        shape; ``dot`` / ``batch_dot``: the contracted dimension). See
        :mod:`gpuparams.nn._infer_shape` for the rules.

        Raises
        ------
        ShapeInferenceError
            When an operator receives a parameter whose unknown dimensions it cannot infer (or
            whose known ones contradict the inputs); the message names the parameter, its shape
            and the operator.
        """
        from ._infer_shape import infer_block_shapes
        infer_block_shapes(self, args, kwargs)

    def forward(self, x: Any, *args: Any) -> Any:
        """Run ``hybrid_forward``: replayed from a traced plan when hybridized, else imperatively."""
        if self._active and _trace_state.tracer is None and not _trace_state.imperative:
            from .. import graph
            return graph.call_cached(self, (x,) + args)
        return self._plain_forward(x, *args)

    def _plain_forward(self, x: Any, *args: Any) -> Any:
        from .. import nd
        ctx = x.context if isinstance(x, NDArray) else None
        params = {attr: p.data(ctx) for attr, p in self._reg_params.items()}
        return self.hybrid_forward(nd, x, *args, **params)

    def hybrid_forward(self, F: Any, x: Any, *args: Any, **kwargs: Any) -> Any:
        """The computation, with ``F`` the ``nd`` namespace; subclasses implement it."""
        raise NotImplementedError(f"{type(self).__name__} must implement hybrid_forward(self, F, x, ...)")

    def export(self, path: str | os.PathLike, epoch: int = 0) -> tuple[str, str]:
        """Write the traced graph as ``path-symbol.json`` and the parameters as ``path-EPOCH.params.npz``.

        The block must be hybridized and called once (the graph of its most recent signature is
        written). See :mod:`gpuparams.graph_io` for the format.

        Returns
        -------
        (str, str)
            The two file names.
        """
        from ..graph_io import export_block
        return export_block(self, path, epoch)


def _sequential_types():
    from .basic_layers import HybridSequential, Sequential
    return (Sequential, HybridSequential)


def _shape_text(value):
    if isinstance(value, NDArray):
        return str(value.shape)
    if isinstance(value, (list, tuple)):
        return "[" + ", ".join(_shape_text(v) for v in value) + "]"
    return type(value).__name__


def _summary_table(model, inputs, rows):
    width = 80
    lines = ["-" * width, f"{'Layer (type)':>20}{'Output Shape':>42}{'Param #':>18}", "=" * width,
             f"{'Input':>20}{_shape_text(list(inputs) if len(inputs) > 1 else inputs[0]):>42}{0:>18}"]
    total = trainable = shared = 0
    for block, shape, n, n_train, n_shared in rows:
        kind = type(block).__name__
        if n_shared == n and n:
            params = f"{n} (shared)"
        elif n_shared:
            params = f"{n} ({n_shared} shared)"
        else:
            params = str(n)
        lines.append(f"{kind + '-' + str(len(lines) - 3):>20}{shape:>42}{params:>18}")
        total += n
        trainable += n_train
        shared += n_shared
    unique = sum(int(np.prod(p.shape)) for p in model.collect_params().values() if p.is_initialized())
    lines += ["=" * width,
              "Parameters in forward computation graph, duplicate included",
              f"   Total params: {total}",
              f"   Trainable params: {trainable}",
              f"   Non-trainable params: {total - trainable}",
              f"Shared params in forward computation graph: {shared}",
              f"Unique parameters in model: {unique}",
              "-" * width]
    return "\n".join(lines)

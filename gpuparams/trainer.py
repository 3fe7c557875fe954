"""``Trainer``: applies an optimizer to a set of Parameters after each backward pass.

>>> import gpuparams as gp
>>> from gpuparams import nd, autograd, gluon
>>> from gpuparams.gluon import nn
>>> net = nn.Dense(1, in_units=2); net.initialize(gp.init.Zero())
>>> trainer = gluon.Trainer(net.collect_params(), 'sgd', {'learning_rate': 0.1})
>>> with autograd.record():
...     loss = ((net(nd.ones((4, 2))) - 1) ** 2).sum()
>>> loss.backward(); trainer.step(4)
>>> round(net.bias.data().item(), 6)   # b - lr * (sum of 2*(0 - 1) over 4 examples) / 4
0.2

What it does at each :meth:`step` (``allreduce_grads`` then ``update``):

1. every parameter must be initialized, with its shape known (not waiting for deferred
   initialization), and every parameter must live on the same set of contexts (checked again only
   when some parameter's placement changed since the last check: ``initialize``, ``reset_ctx``,
   deferred initialization finishing, ``grad_req``);
2. every gradient must have been written by a backward since the previous step (each per-context
   data array's ``_fresh_grad`` flag); otherwise :class:`StaleGradientError`, or, with
   ``ignore_stale_grad=True``, that parameter is skipped;
3. gradients of a parameter kept on several contexts are summed, and every copy receives the sum;
4. the optimizer updates every copy in place with ``rescale_grad = rescale_grad / batch_size``.

All checks happen before any weight changes, so an error leaves the model as it was.
"""
from __future__ import annotations

import numbers
import os
import re
from collections.abc import Mapping, Sequence
from typing import Any

import numpy as np

from . import backend
from . import optimizer as _opt
from ._placement import host_to_context
from ._shapes import shape_is_known
from .errors import StaleGradientError, UnsupportedKVStoreError
from ._ndarray import copy_to_context
from .parameter import DeferredInitializationError, Parameter
from .serialization import ArrayFileError, load_arrays, save_arrays

__all__ = ["Trainer", "StaleGradientError"]

_STATES_FORMAT = "gpuparams-trainer-states/1"
_DIST_KVSTORES = ("dist_sync", "dist_device_sync")


class Trainer:
    """Updates a set of Parameters with an optimizer.

    Parameters
    ----------
    params : ParameterDict, dict of str to Parameter, list of Parameter, or Parameter
        What to train. Shared (tied) parameters are listed once; parameters are ordered by name.
    optimizer : str or Optimizer
        A name registered in :mod:`gpuparams.optimizer` (``'sgd'``, ``'nag'``, ``'adam'``,
        ``'adamw'``, ``'rmsprop'``, ``'adagrad'``, ``'adadelta'``, ``'signum'``, ``'ftml'``, or your
        own) or an instance.
    optimizer_params : dict, optional
        Keyword arguments for the optimizer, e.g. ``{'learning_rate': 0.1, 'momentum': 0.9}``, also
        ``'multi_precision': True`` or ``'lr_scheduler': gpuparams.lr_scheduler.FactorScheduler(...)``;
        must be empty when ``optimizer`` is an instance.
    kvstore : str, None or False
        How gradients of multi-context parameters are combined. In one process every accepted value
        (``'device'``, the default, ``'local'``, ``'nccl'``, None, and False as a synonym of None)
        means the same: they are summed across contexts inside this process. ``'dist_sync'`` (also
        ``'dist_device_sync'``): data-parallel across the processes of an MPI job, see
        :mod:`gpuparams.distributed` (rank 0's parameters at the first step, gradients averaged
        across ranks, files written by rank 0 only). Other distributed names (``'dist_async'``, ...)
        raise :class:`~gpuparams.errors.UnsupportedKVStoreError` (a ``NotImplementedError`` and a
        ``ValueError``).
    compression_params : None
        Gradient compression is not supported; only None is accepted.
    update_on_kvstore : bool or None
        Accepted for MXNet compatibility and recorded; the update always runs in the Trainer (of
        every rank, for ``'dist_sync'``), so it changes nothing (MXNet 1.9.1 itself fails on one
        device with ``True``).

    Raises
    ------
    TypeError
        When ``params`` holds something that is not a Parameter.
    ValueError
        When two different Parameters share a name, when parameters live on different sets of
        contexts, or for bad optimizer arguments.
    """

    def __init__(self, params: Mapping[str, Parameter] | Sequence[Parameter] | Parameter,
                 optimizer: str | _opt.Optimizer = "sgd",
                 optimizer_params: Mapping[str, Any] | None = None,
                 kvstore: str | None | bool = "device", compression_params: None = None,
                 update_on_kvstore: bool | None = None):
        # None in one process; for 'dist_sync', the GradientSync that averages across the ranks.
        self._dist = _resolve_kvstore(kvstore)
        if compression_params is not None:
            raise ValueError("Trainer: compression_params (gradient compression) is not supported; "
                             "pass None")
        if update_on_kvstore not in (None, True, False):
            raise ValueError(f"Trainer: update_on_kvstore must be True, False or None, got "
                             f"{update_on_kvstore!r}")
        self._update_on_kvstore = update_on_kvstore
        given = _collect(params)
        # The order the parameters were given in (collect_params: the model's structure), which a
        # rebuilt model repeats even where its parameter names differ; see load_states.
        self._given_names = [p.name for p in given]
        self._params = _by_name(given)
        if optimizer_params is None:
            optimizer_params = {}
        if not isinstance(optimizer_params, Mapping):
            raise TypeError("Trainer: optimizer_params must be a dict, got "
                            f"{type(optimizer_params).__name__}")
        param_dict = {i: p for i, p in enumerate(self._params)}
        if isinstance(optimizer, _opt.Optimizer):
            if optimizer_params:
                raise ValueError("Trainer: optimizer_params must be empty when optimizer is an Optimizer "
                                 f"instance (got {sorted(optimizer_params)}); set them on the instance")
            self._optimizer = optimizer
            optimizer.param_dict = param_dict
        else:
            try:
                self._optimizer = _opt.create(optimizer, param_dict=param_dict, **optimizer_params)
            except TypeError as exc:
                raise TypeError(f"Trainer: bad optimizer_params for {optimizer!r}: {exc}") from None
        self._scale = self._optimizer.rescale_grad
        self._states = {}          # index -> list (one per context) of state tuples (or None)
        self._pending_states = {}  # parameter name -> {state name: numpy array} from load_states
        # The parameters' placement versions when their contexts were last found consistent; None
        # until the first step. Checking the contexts every step cost a list and a set per parameter.
        self._placements_checked = None
        known = [(p, _ctx_list(p)) for p in self._params]
        known = [(p, c) for p, c in known if c is not None]
        if known:
            _check_contexts(known)

    # ----------------------------------------------------------------- properties
    @property
    def optimizer(self) -> _opt.Optimizer:
        """The :class:`~gpuparams.optimizer.Optimizer` in use."""
        return self._optimizer

    @property
    def learning_rate(self) -> float:
        """The optimizer's current learning rate (read-only; see :meth:`set_learning_rate`)."""
        return self._optimizer.learning_rate

    def set_learning_rate(self, lr: float) -> None:
        """Set the learning rate used from the next step on."""
        self._optimizer.set_learning_rate(lr)

    @property
    def params(self) -> list[Parameter]:
        """The trained Parameters, once each, ordered by name (a new list)."""
        return list(self._params)

    # ----------------------------------------------------------------- stepping
    def step(self, batch_size: float, ignore_stale_grad: bool = False) -> None:
        """Sum gradients across contexts and update every parameter, scaling gradients by ``1/batch_size``.

        Parameters
        ----------
        batch_size : int or float
            Number of examples the gradients were summed over (``rescale_grad / batch_size``
            multiplies every gradient).
        ignore_stale_grad : bool
            Skip parameters whose gradient no backward wrote since the last step instead of raising.

        Raises
        ------
        RuntimeError
            A parameter is not initialized, or its shape still waits for deferred initialization
            (:class:`~gpuparams.parameter.DeferredInitializationError`); the message names it.
        StaleGradientError
            A gradient was not refreshed since the last step (unless ``ignore_stale_grad``).
        ValueError
            Parameters on different sets of contexts, or a bad ``batch_size``.
        """
        live = self._prepare(batch_size, ignore_stale_grad)
        self._allreduce(live)
        self._update(live)

    def allreduce_grads(self) -> None:
        """Sum the gradients of multi-context parameters and write the sum into every copy.

        ``step`` does this itself; call it directly, followed by :meth:`update`, to inspect or
        change the summed gradients (e.g. clip them by global norm) in between.
        """
        self._allreduce(self._ready_everywhere(True, check_stale=False))

    def update(self, batch_size: float, ignore_stale_grad: bool = False) -> None:
        """The update half of :meth:`step`, for use after :meth:`allreduce_grads`."""
        self._update(self._prepare(batch_size, ignore_stale_grad))

    def _prepare(self, batch_size, ignore_stale_grad):
        if (isinstance(batch_size, bool) or not isinstance(batch_size, numbers.Real)
                or not np.isfinite(batch_size) or batch_size <= 0):
            raise ValueError(f"Trainer.step: batch_size must be a positive number, got {batch_size!r}")
        live = self._ready_everywhere(ignore_stale_grad)
        self._optimizer.rescale_grad = self._scale / batch_size
        return live

    def _ready_everywhere(self, ignore_stale_grad, check_stale=True):
        """:meth:`_ready`, agreed on by every rank of a ``dist_sync`` job."""
        if self._dist is None:
            return self._ready(ignore_stale_grad, check_stale)
        return self._dist.ready(self, ignore_stale_grad, check_stale)

    def _ready(self, ignore_stale_grad, check_stale=True):
        """Validate everything; return ``[(index, param, datas, grads)]`` of parameters to update."""
        uninitialized, deferred = [], []
        entries = []
        for i, p in enumerate(self._params):
            if p.grad_req == "null":
                continue
            try:
                datas = p.list_data()
            except DeferredInitializationError:
                deferred.append(p)
                continue
            except RuntimeError:
                uninitialized.append(p)
                continue
            entries.append((i, p, datas))
        if uninitialized:
            names = ", ".join(p.name for p in uninitialized)
            raise RuntimeError(f"Trainer.step: parameter(s) {names} are not initialized; call "
                               "initialize() on the network (or the parameters) before training")
        if deferred:
            names = ", ".join(f"{p.name} (shape {p.shape})" for p in deferred)
            raise DeferredInitializationError(
                f"Trainer.step: parameter(s) {names} still wait for deferred initialization: their "
                "shape is only known after a first forward pass. Run a batch through the network "
                "before trainer.step(), or give the layers their input sizes (e.g. in_units=...)")
        placements = [p._placement_version for p in self._params]
        if placements != self._placements_checked:
            _check_contexts([(p, p.list_ctx()) for _, p, _ in entries])
            self._placements_checked = placements
        live = []
        stale_report = []
        for i, p, datas in entries:
            stale = [d.context for d in datas if not d._fresh_grad]
            if stale and check_stale:
                if not ignore_stale_grad:
                    stale_report.append((p, stale))
                continue
            live.append((i, p, datas, p.list_grad()))
        if stale_report:
            p, ctxs = stale_report[0]
            others = [q.name for q, _ in stale_report[1:]]
            more = ""
            if others:
                listed = ", ".join(others[:3]) + (", ..." if len(others) > 3 else "")
                more = f" (and {len(others)} more: {listed})"
            raise StaleGradientError(
                f"Trainer.step: the gradient of parameter {p.name} on {', '.join(map(str, ctxs))} was not "
                f"computed by a backward pass since the last step{more}. Either the loss does not depend "
                "on it in this iteration, or backward() was not called. If leaving some parameters out "
                "is intended, call step(batch_size, ignore_stale_grad=True) to skip them")
        return live

    def _allreduce(self, live):
        for _, _, _datas, grads in live:
            if len(grads) < 2:
                continue
            # Sum on the first context in context order (deterministic), then copy the sum back, so
            # that every copy receives bit-identical gradients and stays identical after the update.
            # Every allocation and elementwise kernel runs under its array's device: outside a
            # device scope CuPy would put `total` on the current device (gpu(0)) for gpu(1) data.
            first = grads[0]
            with backend.device_scope(first.context):
                total = first._data.copy()
                for g in grads[1:]:
                    total += copy_to_context(g._data, g.context, first.context)
            for g in grads:
                data = total if g is first else copy_to_context(total, first.context, g.context)
                with backend.device_scope(g.context):
                    g._data[...] = data
                g._version[0] += 1
        if self._dist is not None:
            self._dist.average(live)

    def _update(self, live):
        opt = self._optimizer
        for i, p, datas, grads in live:
            states = self._states.get(i)
            if states is None or not _states_fit(opt, states, datas):
                states = self._create_states(i, p, datas)
            opt._update_copies(i, datas, grads, states)
            for d in datas:
                d._fresh_grad = False

    def _create_states(self, i, p, datas):
        """New optimizer states for every copy of ``p``, carrying over values loaded from a file or
        held by earlier states (after ``reset_ctx`` or ``cast`` replaced the parameter's arrays)."""
        opt = self._optimizer
        carry = self._pending_states.get(p.name)
        old = self._states.get(i)
        if carry is None and old is not None and old[0] is not None:
            carry = {sname: old[0][k].asnumpy() for k, sname in enumerate(opt._state_names_of(old[0]))}
        states = self._new_states(i, p, datas, carry)
        self._pending_states.pop(p.name, None)
        self._states[i] = states
        return states

    def _new_states(self, i, p, datas, carry):
        """Fresh states for ``datas`` holding the host values ``carry`` (if any); changes nothing."""
        opt = self._optimizer
        states = [opt.create_state_multi_precision(i, d) for d in datas]
        if carry is not None:
            for state, d in zip(states, datas):
                for k, sname in enumerate(opt._state_names_of(state)):
                    value = carry.get(sname)
                    if value is None:  # a master copy the earlier states lacked: made from the weight
                        continue
                    if value.shape != d.shape:
                        raise ValueError(f"Trainer: the optimizer state {p.name}/{sname} has shape "
                                         f"{value.shape} but the parameter has shape {d.shape}")
                    dtype = state[k].dtype
                    state[k]._data[...] = host_to_context(value.astype(dtype, copy=False), d.context)
        return states

    # ----------------------------------------------------------------- states on disk
    def save_states(self, fname: str | os.PathLike) -> None:
        """Write the optimizer's states (momenta, Adam moments, update counts, learning rate) to ``fname``.

        The file is an ``.npz`` written atomically and read back without pickle. Arrays are stored
        by parameter name (``dense0_weight/mom``), with the order the parameters were given in, so
        that the states load into a trainer of the same model built again (with other names), as in
        MXNet, which keys them by position.
        In a ``dist_sync`` job only rank 0 writes (every rank holds the same states).
        """
        if self._dist is not None and not self._dist.writes_files():
            return
        opt = self._optimizer
        arrays = {
            "__format__": np.array(_STATES_FORMAT),
            "__optimizer__": np.array(type(opt).__name__.lower()),
            "__num_update__": np.array(opt.num_update, dtype=np.int64),
            "__learning_rate__": np.array(opt.lr, dtype=np.float64),
            "__order__": np.array(self._given_names, dtype=str),
        }
        for i, p in enumerate(self._params):
            count = opt._index_update_count.get(i)
            if count is not None:
                arrays[f"{p.name}/__count__"] = np.array(count, dtype=np.int64)
            states = self._states.get(i)
            if states is not None and states[0] is not None:
                for k, sname in enumerate(opt._state_names_of(states[0])):
                    arrays[f"{p.name}/{sname}"] = states[0][k].asnumpy()
            elif p.name in self._pending_states:
                for sname, value in self._pending_states[p.name].items():
                    arrays[f"{p.name}/{sname}"] = value
        save_arrays(fname, arrays)

    def _renamed_states(self, arrays, fname):
        """``arrays`` keyed by this trainer's parameter names.

        A file is matched by name when it names only parameters of this trainer. A model built again
        in the same process gets new automatic names (``dense2_weight`` for ``dense0_weight``), and
        MXNet, which keys states by position, loads its states; so when the file records its order
        (``__order__``) and its k-th parameter's name is this trainer's k-th (in the order given)
        but for the block counters, the states are matched by position. Shapes are checked after.
        """
        order = arrays.pop("__order__", None)
        names = {key.rpartition("/")[0] for key in arrays}
        if order is None or names <= {p.name for p in self._params}:
            return arrays
        if order.dtype.kind != "U" or order.ndim != 1:
            raise ArrayFileError(f"{fname}: entry '__order__' should be a list of parameter names")
        saved = order.tolist()
        if (len(saved) != len(self._given_names) or not names <= set(saved)
                or any(_without_counters(a) != _without_counters(b)
                       for a, b in zip(saved, self._given_names))):
            return arrays  # another model: refused by name in load_states
        rename = dict(zip(saved, self._given_names))
        renamed = {}
        for key, value in arrays.items():
            pname, _, sname = key.rpartition("/")
            renamed[f"{rename[pname]}/{sname}"] = value
        return renamed

    def load_states(self, fname: str | os.PathLike) -> None:
        """Restore what :meth:`save_states` wrote; the file is fully validated before anything changes.

        As in MXNet, the optimizer's saved learning rate and update counts come back with the states
        (call :meth:`set_learning_rate` afterwards to train on with another rate). States of
        parameters that are not initialized yet are kept and applied at their first update.

        Raises
        ------
        FileNotFoundError
            No such file.
        ValueError
            (:class:`~gpuparams.serialization.ArrayFileError` for unreadable files) a file that is
            not a trainer-states file, was written for another optimizer, or names parameters or
            states this trainer does not have.
        """
        arrays = load_arrays(fname, kind="gpuparams trainer-states file")
        opt = self._optimizer
        fmt = arrays.pop("__format__", None)
        if fmt is None or fmt.dtype.kind not in "US" or str(fmt) != _STATES_FORMAT:
            raise ArrayFileError(f"{fname} is not a gpuparams trainer-states file (written by "
                                 "Trainer.save_states)")
        saved_opt = _scalar(arrays.pop("__optimizer__", None), "U", fname, "__optimizer__")
        if saved_opt != type(opt).__name__.lower():
            raise ValueError(f"{fname} holds states of optimizer '{saved_opt}' but this trainer uses "
                             f"'{type(opt).__name__.lower()}'")
        num_update = _scalar(arrays.pop("__num_update__", None), "i", fname, "__num_update__")
        lr = _scalar(arrays.pop("__learning_rate__", None), "f", fname, "__learning_rate__")
        arrays = self._renamed_states(arrays, fname)
        by_name = {p.name: i for i, p in enumerate(self._params)}
        counts, states = {}, {}
        required = set(opt.state_names)
        valid_states = required | ({"weight32"} if opt.multi_precision else set())
        for key, value in arrays.items():
            pname, _, sname = key.rpartition("/")
            if pname not in by_name:
                raise ValueError(f"{fname}: entry {key!r} names a parameter this trainer does not train "
                                 f"(it trains {', '.join(by_name) or 'nothing'})")
            if sname == "__count__":
                counts[by_name[pname]] = _scalar(value, "i", fname, key)
            elif sname in valid_states:
                states.setdefault(pname, {})[sname] = value
            else:
                raise ValueError(f"{fname}: entry {key!r} is not a state of {type(opt).__name__} "
                                 f"(its states: {', '.join(opt.state_names) or 'none'})")
        for pname, found in states.items():
            missing = required - set(found)
            if missing:
                raise ValueError(f"{fname}: parameter {pname} lacks state(s) {', '.join(sorted(missing))}")
            p = self._params[by_name[pname]]
            # The dtype its states get: float32 beside a float16 weight under multi_precision.
            state_dtype = np.dtype(np.float32) if opt._uses_master(p) else p.dtype
            for sname, value in found.items():
                if shape_is_known(p.shape) and tuple(value.shape) != tuple(p.shape):
                    raise ValueError(f"{fname}: state {pname}/{sname} has shape {value.shape} but the "
                                     f"parameter has shape {p.shape}")
                # Converted now so that nothing below can fail half-way.
                if value.dtype.kind not in "biuf":
                    raise ValueError(f"{fname}: state {pname}/{sname} holds {value.dtype.name} data, not "
                                     "numbers")
                with np.errstate(all="ignore"):
                    converted = value.astype(state_dtype, copy=False)
                if np.any(np.isinf(converted) & np.isfinite(value)):
                    raise ValueError(f"{fname}: state {pname}/{sname} has values beyond the "
                                     f"{state_dtype.name} range")
                found[sname] = converted
        # New states for the initialized parameters are built before any attribute changes.
        built = {}
        for pname, found in states.items():
            i = by_name[pname]
            p = self._params[i]
            try:
                datas = p.list_data()
            except RuntimeError:
                continue  # uninitialized or deferred: applied when its states are first created
            built[i] = self._new_states(i, p, datas, found)
        # Everything checked: apply.
        opt.num_update = num_update
        if opt.lr_scheduler is None:
            opt.lr = lr
        opt._index_update_count = counts
        self._states = built
        self._pending_states = {pname: found for pname, found in states.items()
                                if by_name[pname] not in built}

    def __repr__(self):
        return f"Trainer({len(self._params)} parameters, {self._optimizer!r})"


def _scalar(value, kind, fname, key):
    """The Python value of a one-element entry of a states file, of ``kind`` ('i', 'f' or 'U')."""
    ok = value is not None and value.size == 1 and (
        value.dtype.kind in ("iub" if kind == "i" else "iuf" if kind == "f" else "US"))
    if not ok:
        wanted = {"i": "an integer", "f": "a number", "U": "a string"}[kind]
        got = "nothing" if value is None else f"{value.dtype.name} of shape {value.shape}"
        raise ArrayFileError(f"{fname}: entry {key!r} should be {wanted}, the file holds {got}; "
                             "is it a file written by Trainer.save_states?")
    item = value.reshape(()).item()
    if kind == "f" and not np.isfinite(item):
        raise ArrayFileError(f"{fname}: entry {key!r} is {item}, not a finite number")
    return int(item) if kind == "i" else float(item) if kind == "f" else str(item)


def _states_fit(opt, states, datas):
    """Whether existing states still match the parameter's copies (contexts, shapes, dtypes, and
    the presence of a float32 master copy exactly where the optimizer wants one)."""
    if len(states) != len(datas):
        return False
    for state, d in zip(states, datas):
        if state is None and not opt.multi_precision:
            continue  # no state to match (plain SGD), and no master copy wanted
        master = isinstance(state, _opt._WithMaster)
        if master != opt._uses_master(d):
            return False
        dtype = np.float32 if master else d.dtype
        for arr in state or ():
            if arr.context is not d.context or arr.shape != d.shape or arr.dtype != dtype:
                return False
    return True


# MXNet 1.9.1's single-process kvstore types. 'nccl' (MXNet's multi-GPU reduction in one process) is
# one of them: GPU scripts pass it, and on one machine the Trainer's own summation does that job.
_LOCAL_KVSTORES = ("device", "local", "nccl")


def _resolve_kvstore(kvstore):
    """The kvstore a Trainer uses: None for every single-process value (gradients are summed in the
    Trainer); distributed names go to :func:`_distributed_kvstore`."""
    if isinstance(kvstore, str) and kvstore.startswith("dist"):
        return _distributed_kvstore(kvstore)
    if kvstore is None or kvstore is False or isinstance(kvstore, str) and kvstore in _LOCAL_KVSTORES:
        return None
    raise ValueError(f"Trainer: kvstore must be 'device', 'local', 'nccl', None or False (one process), "
                     f"or a distributed name such as 'dist_sync'; got {kvstore!r}")


def _distributed_kvstore(name):
    """The store of a distributed kvstore name: ``'dist_sync'`` and ``'dist_device_sync'`` average
    the gradients across the ranks of an MPI job (:mod:`gpuparams.distributed`); the other names
    (``'dist_async'``, ...) are not provided, and say so."""
    if name in _DIST_KVSTORES:
        from .distributed._sync import GradientSync
        return GradientSync()
    raise UnsupportedKVStoreError(
        f"Trainer: kvstore={name!r} is not provided: kvstore must be 'device', 'local', 'nccl', None or "
        f"'dist_sync', got {name!r} (distributed training is synchronous: 'dist_sync' or "
        "'dist_device_sync' under mpirun, see gpuparams.distributed)")


def _without_counters(name):
    """A parameter name with its block counters blanked: ``dense2_weight`` -> ``dense#_weight``."""
    return re.sub(r"\d+", "#", name)


def _collect(params):
    """Parameters from a ParameterDict / dict / list / single Parameter: once each, in the order
    given (:func:`_by_name` sorts them)."""
    if isinstance(params, Parameter):
        items = [params]
    elif isinstance(params, Mapping) or hasattr(params, "values") and callable(params.values):
        items = list(params.values())
    elif isinstance(params, (list, tuple)):
        items = list(params)
    else:
        raise TypeError("Trainer: params must be a ParameterDict (e.g. net.collect_params()), a dict "
                        f"or a list of Parameters, got {type(params).__name__}")
    unique, seen = [], set()
    for p in items:
        if not isinstance(p, Parameter):
            raise TypeError(f"Trainer: params must contain only Parameters, got {type(p).__name__}")
        if id(p) not in seen:  # tied parameters appear several times: keep one
            seen.add(id(p))
            unique.append(p)
    return unique


def _by_name(params):
    """``params`` sorted by name (the order of the optimizer's indices), refusing two Parameters of
    one name (the names key the optimizer states)."""
    unique = sorted(params, key=lambda p: p.name)
    for a, b in zip(unique, unique[1:]):
        if a.name == b.name:
            raise ValueError(f"Trainer: two different Parameters are both named {a.name!r}; give the "
                             "blocks distinct prefixes (parameter names key the optimizer states)")
    return unique


def _ctx_list(p):
    try:
        return p.list_ctx()
    except RuntimeError:
        return None


def _check_contexts(entries):
    if not entries:  # nothing to train (e.g. every parameter has grad_req='null')
        return
    reference, ref_ctx = entries[0]
    ref_set = set(ref_ctx)
    for p, ctxs in entries[1:]:
        if set(ctxs) != ref_set:
            raise ValueError(f"Trainer: all parameters must live on the same contexts, but {reference.name} "
                             f"is on {list(ref_ctx)} and {p.name} is on {list(ctxs)}; initialize (or "
                             "reset_ctx) them with the same ctx list")

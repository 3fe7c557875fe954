"""hybridize(): trace a HybridBlock's ``hybrid_forward`` through the operator registry, replay the plan.

How it works
------------
The first call of a hybridized block with a given **signature** — the shapes, dtypes and contexts of
its NDArray inputs (and the values of its other inputs), which inputs are the same array, whether
layers run in training mode and whether autograd is recording — runs ``hybrid_forward`` once
imperatively with the trace hook of the dispatcher (:mod:`gpuparams.ops._registry`) switched on.
Every operator call then goes through :meth:`Tracer.record`, which runs it and appends a
:class:`Step`: the implementation the dispatcher chose (NumPy/CuPy code or our kernels), where each
NDArray argument comes from (a block input, a parameter, an earlier step's output, or a constant
made inside ``hybrid_forward``) and the other arguments as they were.

Later calls with the same signature run :meth:`Plan.run`: one loop over the steps that calls those
implementations directly, inside the device scope entered once for the whole plan. It skips the
dispatcher, the ``Block.__call__`` machinery of every child (hooks, deferred-initialization checks,
parameter lookup by name) and Python's control flow in ``hybrid_forward``. Parameters are read at
each replay (``param.data(ctx)``, the buffer itself, not a copy), so ``Trainer.step``, ``set_data``,
``initialize(force_reinit=True)`` and ``load_parameters`` are seen by the next replay. Random
operators (``F.Dropout``) are steps like any other and draw new numbers at each replay.

Under ``autograd.record()`` a replay records **one** tape node for the whole block call: the
operators hand their backward functions to the replay (:class:`_FusedBackward`) instead of building
a node each, and that node's backward runs them in reverse over the plan, summing gradients as
``autograd`` does, so gradients (and the sums over tied parameters) are bit-identical to the
imperative run on the CPU. (A plan of one operator keeps that operator's own node.)

Capture: with ``hybridize(static_alloc=True, static_shape=True)`` on a device that runs our kernels,
outside ``record()``, the second call of a signature records the plan's kernel launches
(:class:`Capture`, the hook in ``backend.loader.launch``) into a :class:`CapturedPlan` and later
calls replay them on graph-owned buffers. A step that launches none of our kernels cannot be
captured: the plan falls back to the uncaptured replay with one ``CaptureFallbackWarning``.

An ``autograd.Function`` called in ``hybrid_forward`` is traced as one :class:`FunctionCall` step,
not as the operators its ``forward`` runs: a replay calls ``forward`` again (recording paused) on a
fresh copy of the instance and records the user's ``backward`` (in the replay's one node), so
values and gradients are the imperative ones at every call. Being Python, such a plan is never
captured (one ``CaptureFallbackWarning``, here and in :func:`step`) and never exported
(:class:`~gpuparams.errors.GraphFormatError`).

A whole training step — forward, loss, backward and the fused optimizer update — is captured by
:func:`step` (``gp.graph.step(net, loss_fn, trainer)``, a :class:`TrainStep`; the machinery is in
:mod:`gpuparams.graph_step`): one graph per input signature, launched with one call, with the
step's hyperparameters (learning rate, Adam's ``lr_t``, ``1/batch_size``) read from a device array
the host fills before each launch.

What cannot be traced fails at trace time with :class:`~gpuparams.errors.TraceError`, naming the
block and the source line: host reads of values (``asnumpy``, ``asscalar``, ``float()``, ``if x:``),
in-place writes (``x[:] = v``, ``x += v``), and arrays derived from a traced array without an
operator (``x.detach()``). A plan is never silently stale.

The cache
---------
Each hybridized block keeps its plans in a least-recently-used cache of :data:`MAX_SIGNATURES`
signatures (default 8); a ninth signature evicts the least recently used plan, which is traced again
when it comes back. ``hybridize()`` again, ``cast()`` and adding children clear it.

>>> import gpuparams as gp
>>> from gpuparams import nn, nd
>>> net = nn.HybridSequential()
>>> net.add(nn.Dense(3, activation='relu'), nn.Dense(2))
>>> net.initialize(); net.hybridize()
>>> y1 = net(nd.ones((4, 5))); y2 = net(nd.ones((4, 5)))       # traced, then replayed
>>> gp.graph.cache_info(net)['signatures']
1
"""
from __future__ import annotations

import copy
import linecache
import os
import sys
import warnings
from collections import OrderedDict

from . import autograd, backend
from ._tracing import state as _state
from .autograd import GradSink, Node
from .errors import AutogradError, CaptureError, CaptureFallbackWarning, TraceError
from ._ndarray import NDArray
from .ops import _registry

__all__ = ["MAX_SIGNATURES", "Plan", "Step", "FunctionCall", "Tracer", "TraceError", "Capture",
           "CapturedPlan", "CaptureFallbackWarning", "TrainStep", "call_cached", "cache_info", "signature",
           "step"]

#: How many input signatures each hybridized block keeps plans for (least recently used evicted).
MAX_SIGNATURES = 8

_PACKAGE_DIR = os.path.dirname(os.path.abspath(__file__)) + os.sep


def signature(args):
    """The cache key of a call with positional ``args`` (see the module docstring)."""
    parts = []
    arrays = []
    for a in args:
        if isinstance(a, NDArray):
            data = a._data
            # The class is the front end (nd or np), whose results differ (0-d, bool comparisons).
            parts.append((type(a), data.shape, data.dtype, a._ctx))
            arrays.append(a)
        elif a is None or isinstance(a, (bool, int, float, str)):
            parts.append(("value", type(a), a))
        else:
            raise TypeError(f"a hybridized block takes NDArrays (and None or numbers) as inputs, got "
                            f"{type(a).__name__}; pass arrays, or call hybridize(active=False)")
    aliases = ()
    if len(arrays) > 1:  # the same array passed twice must not share a plan with two distinct arrays
        ids = [id(a) for a in arrays]
        aliases = tuple(ids.index(i) for i in ids)
    astate = autograd._state
    return tuple(parts), aliases, astate.training, astate.recording


class Step:
    """One recorded operator call.

    Attributes
    ----------
    name : str
        The operator's registered name.
    fn : callable
        The implementation the dispatcher chose at trace time (``op.impl`` or ``op.kernel``).
    device : Device or None
        The device whose scope the call needs (None on the CPU).
    args, kwargs : list, dict
        The arguments as traced; NDArray positions are overwritten at replay from ``fills``.
    fills : tuple
        ``(position, index or None, slot)``: argument ``position`` (or item ``index`` of a list/tuple
        argument) is the value in ``slot``; keyword positions are strings.
    outs : int or tuple of int or None
        The slot(s) of the result.
    """

    __slots__ = ("name", "fn", "device", "args", "kwargs", "fills", "outs", "seq_args")

    def __init__(self, name, fn, device, args, kwargs, fills, outs, seq_args):
        self.name = name
        self.fn = fn
        self.device = device
        self.args = args
        self.kwargs = kwargs
        self.fills = fills
        self.outs = outs
        self.seq_args = seq_args  # {position: type} of list/tuple arguments holding NDArrays


class FunctionCall(Step):
    """One traced call of an :class:`~gpuparams.autograd.Function`: a step whose ``fn`` runs the
    user's ``forward`` and records the user's ``backward``, on a fresh instance at every replay.

    The operators ``forward`` runs are not steps of the plan (they would replay without the custom
    backward). A replay copies (``copy.copy``) the instance as it was before its call in the trace,
    so what ``forward`` keeps on ``self`` (``save_for_backward``) belongs to that call only; the
    copy is shallow, as constructing the instance again in ``hybrid_forward`` would share the
    arguments given to its constructor.

    Attributes
    ----------
    function : type
        The Function's class (for messages: capture and export refuse plans holding one).
    template : Function
        The uncalled copy each replay copies again.
    """

    __slots__ = ("function", "template")

    def __init__(self, template, device, args, fills, outs):
        self.function = type(template)
        self.template = template
        super().__init__(f"autograd.Function {type(template).__name__!r}", self._call, device, args,
                         {}, fills, outs, {})

    def _call(self, *inputs):
        return copy.copy(self.template)._invoke(inputs)

    @property
    def qualname(self):
        """``module.QualName`` of the Function's class."""
        return f"{self.function.__module__}.{self.function.__qualname__}"


def function_calls(plan):
    """The :class:`FunctionCall` steps of ``plan`` (what keeps it from being captured or exported)."""
    return [s for s in plan.steps if isinstance(s, FunctionCall)]


def _function_capture_reason(plan):
    """Why ``plan`` cannot be captured because of an ``autograd.Function`` in it, or None."""
    calls = function_calls(plan)
    if not calls:
        return None
    names = ", ".join(dict.fromkeys(repr(c.function.__name__) for c in calls))
    return (f"the plan calls autograd.Function {names}, whose forward and backward are Python code "
            "that must run at every call (a graph would freeze one run of them)")


class Plan:
    """A traced ``hybrid_forward``: what one replay runs.

    Attributes
    ----------
    steps : list of Step
    n_slots : int
        Size of the value table a replay fills.
    input_slots : tuple of (argument index, slot)
    params : tuple of (slot, Parameter, Context)
        Read at every replay.
    consts : tuple of (slot, NDArray)
        Arrays made inside ``hybrid_forward`` without an operator (``F.zeros``), kept from the trace.
    output : spec
        How to build the result from the slots.
    device : Device or None
        The device entered once around the replay.
    """

    def __init__(self, steps, n_slots, input_slots, params, consts, output, device, block_name):
        self.steps = steps
        self.n_slots = n_slots
        self.input_slots = input_slots
        self.params = params
        self.consts = consts
        self.output = output
        self.device = device
        self.block_name = block_name
        self.replays = 0
        self._compiled = None       # the steps in the form _loop runs them (built on first replay)
        self.captured = None        # CapturedPlan, once captured
        self.capture_failed = None  # why capture fell back (then it is not tried again)
        self.captures = 0

    def run(self, args):
        """Replay the plan with the block inputs ``args``; returns what ``hybrid_forward`` returned.

        Under ``autograd.record()`` a plan with one output records one tape node for the whole call
        (:class:`_FusedBackward`) instead of one per operator. A plan of a single operator records
        that operator's own node, as the imperative call does: it is one node either way, and the
        fused one would only add the replay's bookkeeping to it.
        """
        self.replays += 1
        fused = autograd._state.recording and self.output[0] == "slot" and len(self.steps) > 1
        if self.device is None:  # the CPU: no device scope to enter
            return self._fused(args) if fused else self._loop(args)
        if fused:
            return _registry.run_plan_on(self.device, lambda: self._fused(args))
        return _registry.run_plan_on(self.device, lambda: self._loop(args))

    def _fused(self, args):
        fused = _FusedBackward(self.block_name)
        previous = _state.collect
        _state.collect = fused.record
        try:
            out = self._loop(args)
        finally:
            _state.collect = previous
        return fused.attach(out)

    def run_captured(self, args):
        """Replay through a captured graph (capturing it first, again after a parameter buffer
        changed); falls back to :meth:`run`, with one warning, when the plan cannot be captured."""
        if self.capture_failed is not None:
            return self.run(args)
        captured = self.captured
        if captured is not None and not captured.valid():
            captured = self.captured = None  # a parameter got a new buffer: capture again
        if captured is None:
            try:
                reason = _function_capture_reason(self)
                if reason is not None:
                    raise CaptureError(reason)
                captured = self.captured = CapturedPlan(self, args)
            except CaptureError as exc:
                self.capture_failed = str(exc)
                warnings.warn(f"{self.block_name}: CUDA-graph capture fell back to the uncaptured replay: "
                              f"{exc}", CaptureFallbackWarning, stacklevel=4)
                return self.run(args)
            self.captures += 1
        self.replays += 1
        return captured.run(args)

    def _compile(self):
        """Per step, what a replay needs, worked out once: ``(step, fn, direct, template, fills,
        outs)`` where ``fills`` is ``((position, slot), ...)`` for a step whose traced arrays are
        all plain positional arguments (the usual case), or None for one that also has arrays in
        keyword arguments or in list/tuple arguments (filled by :meth:`_fill`); ``direct`` says
        the step runs on the plan's device (no scope of its own to enter)."""
        compiled = []
        for step in self.steps:
            plain = not step.seq_args and all(type(pos) is int and index is None
                                              for pos, index, _ in step.fills)
            fills = tuple((pos, slot) for pos, _, slot in step.fills) if plain else None
            direct = step.device is None or step.device is self.device
            compiled.append((step, step.fn, direct, step.args, fills, step.outs))
        self._compiled = compiled
        return compiled

    @staticmethod
    def _fill(step, vals):
        """The arguments of ``step`` with its traced arrays put back from ``vals`` (any position)."""
        args_ = list(step.args)
        kwargs_ = step.kwargs
        if kwargs_:
            kwargs_ = dict(kwargs_)
        if step.seq_args:
            for pos in step.seq_args:
                target = args_ if type(pos) is int else kwargs_
                target[pos] = list(target[pos])
        for pos, index, slot in step.fills:
            target = args_ if type(pos) is int else kwargs_
            if index is None:
                target[pos] = vals[slot]
            else:
                target[pos][index] = vals[slot]
        if step.seq_args:
            for pos, kind in step.seq_args.items():
                target = args_ if type(pos) is int else kwargs_
                target[pos] = kind(target[pos])
        return args_, kwargs_

    def _loop(self, args, on_step=None):
        vals = [None] * self.n_slots
        for index, slot in self.input_slots:
            vals[slot] = args[index]
        for slot, param, ctx in self.params:
            vals[slot] = param.data(ctx)
        for slot, value in self.consts:
            vals[slot] = value
        for step, fn, direct, template, fills, outs in self._compiled or self._compile():
            if fills is not None:
                args_ = list(template)
                for pos, slot in fills:
                    args_[pos] = vals[slot]
                kwargs_ = step.kwargs
            else:
                args_, kwargs_ = self._fill(step, vals)
            if direct:
                out = fn(*args_, **kwargs_)
            else:
                out = _registry._run_on(step.device, fn, args_, kwargs_)
            if type(outs) is int:
                vals[outs] = out
            elif outs is not None:
                for slot, value in zip(outs, out):
                    vals[slot] = value
            if on_step is not None:
                on_step(step)
        return _build(self.output, vals)


class Capture:
    """Records the kernel launches of a capture region (the hook of ``backend.loader.launch``).

    Every launch's arguments are kept, and so every buffer a launch touches, for the graph's life
    (on a GPU a buffer handed back to CuPy's pool while a graph still points at it would be reused
    under the graph). On the emulated GPU each launch is only stored, as CUDA stream capture does,
    and a replay runs them in order on the same buffers; on a real GPU the launch is also issued on
    the capturing CuPy stream, which records it into the CUDA graph.
    """

    def __init__(self, device):
        self.device = device
        self.launches = []
        self.count = 0

    def record(self, dev, fn, grid, block, args, shared_mem):
        if dev is not self.device:
            raise CaptureError(f"a kernel launch on {dev.label} inside a capture on {self.device.label}")
        self.count += 1
        self.launches.append((fn, grid, block, args, shared_mem))
        if not dev.emulated:  # pragma: no cover - needs a real GPU
            dev.run(fn, grid, block, args, shared_mem)


class CapturedPlan:
    """A plan captured into one graph of kernel launches (``hybridize(static_alloc=True,
    static_shape=True)`` on a device with our kernels, outside ``autograd.record()``).

    The inputs are copied into buffers owned by the graph, the launches replay on those buffers and
    on the parameters' buffers as they were at capture (:meth:`valid` notices a new buffer), and the
    outputs are copied out, so a later call never overwrites what an earlier one returned.
    """

    def __init__(self, plan, args):
        device = plan.device
        xp = device.xp
        self.device = device
        statics = list(args)
        self.inputs = []
        for index, _ in plan.input_slots:
            buffer = xp.empty(args[index].shape, dtype=args[index].dtype)
            statics[index] = _wrap(buffer, args[index]._ctx, type(args[index]))
            self.inputs.append((index, buffer))
        self.params = [(p, ctx, p.data(ctx)._data) for _, p, ctx in plan.params]
        capture = Capture(device)

        def one_step(step):
            # Every step must be kernel launches only: host (NumPy/CuPy) work would run once, at
            # capture, and never again at replay.
            if capture.count == one_step.seen:
                raise CaptureError(f"operator {step.name!r} ran no kernel of ours (host or library "
                                    "work cannot be captured into the graph)")
            one_step.seen = capture.count
        one_step.seen = 0

        previous = _state.capture
        _state.capture = capture
        graph = None
        try:
            if device.emulated:
                out = plan._loop(statics, one_step)
            else:  # pragma: no cover - needs a real GPU (owed to the GPU box)
                stream = xp.cuda.Stream(non_blocking=True)
                with stream:
                    stream.begin_capture()
                    try:
                        out = plan._loop(statics, one_step)
                    finally:
                        graph = stream.end_capture()
                self.stream = stream
        finally:
            _state.capture = previous
        self.graph = graph
        self.launches = capture.launches
        self.outputs = out
        self.output_spec = plan.output

    def valid(self):
        """False when a parameter was given a new buffer since the capture."""
        return all(p._data is not None and p.data(ctx)._data is buffer for p, ctx, buffer in self.params)

    def run(self, args):
        """Copy ``args`` in, launch the graph, copy the outputs out."""
        device = self.device
        with device.scope():
            for index, buffer in self.inputs:
                buffer[...] = args[index]._data
            if self.graph is not None:  # pragma: no cover - real GPU
                self.graph.launch(self.stream)
                self.stream.synchronize()
            else:
                run = device.run
                for fn, grid, block, launch_args, shared_mem in self.launches:
                    run(fn, grid, block, launch_args, shared_mem)
            return _copy_out(self.outputs)


def _wrap(buffer, ctx, cls=None):
    from ._ndarray import from_backend
    return from_backend(buffer, ctx, cls)


def _copy_out(value):
    if isinstance(value, NDArray):
        return _wrap(value._data.copy(), value._ctx, type(value))
    if isinstance(value, (list, tuple)):
        return type(value)(_copy_out(v) for v in value)
    return value


class _FusedBackward:
    """The backward of one replayed block call: the operators' own backward functions, run in
    reverse order over the plan's values, behind a single autograd node.

    While the replay runs, :func:`gpuparams.ops._core.result` hands each operator's backward function
    (and the versions of what it saved) to :meth:`record` instead of building a tape node. Inputs are
    numbered as the replay goes (by ``id`` while the arrays are alive, kept alive until
    :meth:`attach`), so the node holds only what the backward functions hold, as imperative nodes do.
    Gradients reaching one value are summed as ``autograd`` sums them (first one reshaped, then
    ``previous + g``).
    """

    __slots__ = ("name", "records", "index", "external", "ext_index", "keep", "sinks")

    def __init__(self, name):
        self.name = name
        self.records = []    # (op name, input refs, backward, saved versions, output shape)
        self.index = {}      # id(output) -> record number (while the replay runs)
        self.external = []   # arrays from outside the plan that want a gradient (params, inputs)
        self.ext_index = {}
        self.keep = []
        self.sinks = set()   # records whose backward writes leaf gradients in place (GradSink)

    def allow_sinks(self, out):
        k = self.index.get(id(out))
        if k is not None:
            self.sinks.add(k)

    def record(self, out, name, inputs, backward_fn, saved):
        refs = []
        wants = False
        for x in inputs:
            if x is None:
                refs.append(None)
                continue
            k = self.index.get(id(x))
            if k is not None:
                refs.append((True, k))
                wants = True
            elif x._node is not None or x._grad_req != "null":
                e = self.ext_index.get(id(x))
                if e is None:
                    e = self.ext_index[id(x)] = len(self.external)
                    self.external.append(x)
                refs.append((False, e))
                wants = True
            else:
                refs.append(None)  # a constant: no gradient flows to it
        if not wants:
            return  # as imperatively: a result of constants only records nothing
        self.index[id(out)] = len(self.records)
        self.keep.append(out)
        self.records.append((name, tuple(refs), backward_fn, saved, out.shape))

    def attach(self, out):
        k = self.index.get(id(out)) if isinstance(out, NDArray) else None
        self.index = self.keep = None
        if k is None:
            return out  # the output is an input or a constant: nothing to differentiate here
        records, external, sinks = self.records, tuple(self.external), frozenset(self.sinks)
        last = k

        def backward(g, needs):
            grads = [None] * (last + 1)
            ext = [None] * len(external)
            grads[last] = g
            for i in range(last, -1, -1):
                gi = grads[i]
                if gi is None:
                    continue
                grads[i] = None
                name, refs, fn, saved, _ = records[i]
                for array, version in saved:
                    if array._version[0] != version:
                        raise AutogradError(
                            f"an array of shape {array.shape} that the backward of '{name}' (in "
                            f"hybridized {self.name}) needs was modified in place after it was used "
                            f"(version {version} -> {array._version[0]}); write to a copy, or make "
                            "the change outside autograd.record()")
                if i in sinks:  # this operator may write a leaf's gradient buffer itself
                    input_needs = tuple([False if r is None else True if r[0] else
                                         _sink(needs[r[1]]) if needs[r[1]] else False for r in refs])
                else:
                    input_needs = tuple([r is not None and (r[0] or bool(needs[r[1]])) for r in refs])
                for r, need, xg in zip(refs, input_needs, fn(gi, input_needs)):
                    if not need or xg is None:
                        continue
                    target, j = (grads, r[1]) if r[0] else (ext, r[1])
                    shape = records[j][4] if r[0] else external[j].shape
                    previous = target[j]
                    if previous is None:
                        target[j] = xg if tuple(xg.shape) == shape else xg.reshape(shape)
                    else:
                        target[j] = previous + xg.reshape(previous.shape)
            return tuple(ext)

        out._node = Node(f"hybridized {self.name}", external, backward, ())
        out._node.accepts_sinks = bool(sinks)
        return out


def _sink(need):
    """The GradSink for one more use of a leaf in this backward pass (it tells at each use whether
    to accumulate, from what was written before), or ``True`` when the leaf has no sink."""
    return need if isinstance(need, GradSink) else True


def _build(spec, vals):
    kind = spec[0]
    if kind == "slot":
        return vals[spec[1]]
    if kind == "const":
        return spec[1]
    items = [_build(s, vals) for s in spec[1]]
    return tuple(items) if kind == "tuple" else items


class Tracer:
    """Records the operator calls of one ``hybrid_forward`` run into a :class:`Plan`."""

    def __init__(self, block, args):
        self.block = block
        self.slots = {}      # id(NDArray) -> slot
        self.keep = []       # every traced array, so that ids stay unique during the trace
        self.versions = {}   # id(version list) -> slot of the array owning it
        self.steps = []
        self.params = []
        self.consts = []
        self.devices = set()
        self.n = 0
        self._param_map = None
        self.input_slots = []
        for index, a in enumerate(args):
            if isinstance(a, NDArray) and id(a) not in self.slots:
                self.input_slots.append((index, self._new_slot(a)))

    def _new_slot(self, array):
        slot = self.n
        self.n += 1
        self.slots[id(array)] = slot
        self.versions.setdefault(id(array._version), slot)
        self.keep.append(array)
        return slot

    def _params_by_array(self):
        out = {}
        for p in self.block.collect_params().values():
            if p._data is not None:
                for ctx, arr in zip(p._ctx_list, p._data):
                    out[id(arr)] = (p, ctx)
        return out

    def slot_of(self, array):
        """The slot of an NDArray argument (registering parameters and constants on first sight)."""
        slot = self.slots.get(id(array))
        if slot is not None:
            return slot
        if self._param_map is None or id(array) not in self._param_map:
            self._param_map = self._params_by_array()  # deferred initialization may have added some
        found = self._param_map.get(id(array))
        if found is not None:
            slot = self._new_slot(array)
            self.params.append((slot, found[0], found[1]))
            return slot
        if id(array._version) in self.versions:
            self.refuse("an array derived from a traced array without an operator (detach() or a "
                        "view) is used", "use operators only (F.identity-free code: pass x itself)")
        slot = self._new_slot(array)
        self.consts.append((slot, array))
        return slot

    def record(self, dispatch, args, kwargs):
        """The dispatcher's trace hook: run one operator call and record it as a :class:`Step`."""
        name = dispatch.op_name
        device, fn = _registry.choose(name, args, kwargs)
        fills = []
        seq_args = {}
        arg_list = list(args)
        for pos, a in enumerate(args):
            self._note(pos, a, fills, seq_args, arg_list)
        kw = dict(kwargs)
        for key, a in kwargs.items():
            self._note(key, a, fills, seq_args, kw)
        _state.hook = None  # the operator's own inner operator calls are part of this step
        try:
            out = dispatch(*args, **kwargs)
        finally:
            _state.hook = self.record
        if isinstance(out, NDArray):
            outs = self._new_slot(out)
        elif isinstance(out, (list, tuple)) and out and all(isinstance(o, NDArray) for o in out):
            outs = tuple(self._new_slot(o) for o in out)
        elif out is None or isinstance(out, (bool, int, float)):
            return out  # an operator on numbers only: a constant of the trace
        else:
            raise TraceError(f"operator {name!r} returned {type(out).__name__}, which a plan cannot hold")
        if device is not None:
            self.devices.add(device)
        self.steps.append(Step(name, fn, device, tuple(arg_list), kw, tuple(fills), outs, seq_args))
        return out

    def record_function(self, function, inputs):
        """Run one ``autograd.Function`` call (``function(*inputs)``) and record it as one
        :class:`FunctionCall` step (called by ``Function.__call__`` while a trace is active)."""
        template = copy.copy(function)  # before the call: what every replay starts from
        fills = []
        arg_list = list(inputs)
        for pos, a in enumerate(inputs):
            self._note(pos, a, fills, {}, arg_list)
        device = None
        first = inputs[0] if inputs else None
        if first is not None and first._ctx.device_type == "gpu":
            device = backend.device_of(first)
        # forward's operators run (and are dispatched) as in an imperative call; they are this step.
        _state.hook = None
        try:
            out = function._invoke(inputs)
        finally:
            _state.hook = self.record
        outs = self._new_slot(out) if isinstance(out, NDArray) else tuple(self._new_slot(o) for o in out)
        if device is not None:
            self.devices.add(device)
        self.steps.append(FunctionCall(template, device, tuple(arg_list), tuple(fills), outs))
        return out

    def _note(self, pos, value, fills, seq_args, template):
        if isinstance(value, NDArray):
            fills.append((pos, None, self.slot_of(value)))
            template[pos] = None
        elif isinstance(value, (list, tuple)) and any(isinstance(v, NDArray) for v in value):
            seq_args[pos] = type(value)
            template[pos] = [None if isinstance(v, NDArray) else v for v in value]
            for i, v in enumerate(value):
                if isinstance(v, NDArray):
                    fills.append((pos, i, self.slot_of(v)))

    def output_spec(self, out):
        if isinstance(out, NDArray):
            return ("slot", self.slot_of(out))
        if isinstance(out, (list, tuple)):
            return ("tuple" if isinstance(out, tuple) else "list", [self.output_spec(o) for o in out])
        if out is None or isinstance(out, (bool, int, float, str)):
            return ("const", out)
        raise TraceError(f"cannot hybridize {self.block.name}: hybrid_forward returned "
                         f"{type(out).__name__}; return NDArrays (or a tuple/list of them)")

    def finish(self, out):
        """The :class:`Plan` of the traced run that returned ``out``."""
        spec = self.output_spec(out)
        devices = self.devices
        device = next(iter(devices)) if len(devices) == 1 else None
        plan = Plan(self.steps, self.n, tuple(self.input_slots), tuple(self.params), tuple(self.consts),
                    spec, device, self.block.name)
        self.keep = []
        return plan

    # ------------------------------------------------------------------ errors
    def refuse(self, what, fix):
        """Raise :class:`TraceError` for ``what``, naming the block and the user's source line."""
        frame = sys._getframe(1)
        user = hybrid = None
        block = self.block
        while frame is not None:
            code = frame.f_code
            if user is None and not code.co_filename.startswith(_PACKAGE_DIR):
                user = frame
            if code.co_name == "hybrid_forward" and hybrid is None:
                hybrid = frame
                owner = frame.f_locals.get("self")
                if owner is not None and hasattr(owner, "_children"):
                    block = owner
            if user is not None and hybrid is not None:
                break
            frame = frame.f_back
        where = user or hybrid
        location = ""
        if where is not None:
            source = linecache.getline(where.f_code.co_filename, where.f_lineno).strip()
            location = f" at {where.f_code.co_filename}:{where.f_lineno} (`{source}`)"
        raise TraceError(f"cannot hybridize {block.name} ({type(block).__name__}): {what}{location} "
                         f"inside hybrid_forward; {fix}. Or call hybridize(active=False) to run it "
                         "imperatively")


def _trace(block, args):
    tracer = Tracer(block, args)
    _state.tracer, _state.hook = tracer, tracer.record
    try:
        out = block._plain_forward(*args)
    finally:
        _state.tracer = _state.hook = None
    return out, tracer.finish(out)


def call_cached(block, args):
    """Run hybridized ``block`` on ``args``: replay the plan of their signature, or trace one."""
    key = signature(args)
    plans = block._plans
    plan = plans.get(key)
    if plan is not None:
        plans.move_to_end(key)
        flags = block._flags
        if (flags["static_alloc"] and flags["static_shape"] and not key[3] and plan.device is not None
                and plan.device.custom_kernels):
            return plan.run_captured(args)
        return plan.run(args)
    out, plan = _trace(block, args)
    plans[key] = plan
    while len(plans) > MAX_SIGNATURES:
        plans.popitem(last=False)
    return out


def cache_info(block):
    """``{'signatures', 'replays', 'steps', 'captures', 'capture_failed'}`` of a hybridized block:
    the number of plans, replays over all of them, steps per plan, CUDA-graph captures made (a
    parameter buffer change makes another) and, per plan, why capture fell back (or None)."""
    plans = getattr(block, "_plans", None) or OrderedDict()
    return {"signatures": len(plans), "replays": sum(p.replays for p in plans.values()),
            "steps": [len(p.steps) for p in plans.values()],
            "captures": sum(p.captures for p in plans.values()),
            "capture_failed": [p.capture_failed for p in plans.values()]}


# The training step (forward + loss + backward + update, captured as one graph) lives in its own
# module; gp.graph.step / gp.graph.TrainStep are its public names.
from . import graph_step as _graph_step  # noqa: E402

TrainStep = _graph_step.TrainStep
step = _graph_step.step

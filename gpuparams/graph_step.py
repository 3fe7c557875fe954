"""A whole training step — forward, loss, backward, optimizer update — captured as one graph.

``step = gp.graph.step(net, loss_fn, trainer)`` returns a :class:`TrainStep`; ``loss = step(x, y)``
does what this does::

    with autograd.record():
        loss = loss_fn(net(x), y)
    loss.backward()
    trainer.step(batch_size)

When ``net`` is hybridized with ``static_alloc=True, static_shape=True`` and ``x`` lives on a device
that runs our kernels (a GPU, or the emulated ``gpu(0)``), the second call of an input signature
captures that whole step into **one graph** of our kernel launches and every later call launches
it: on a GPU a CUDA graph made with CuPy's stream capture, on the emulator the recorded list of
launches replayed in order. The first call of a signature runs uncaptured (it traces the net and
makes the optimizer's states).

What is in the graph
--------------------
- the net's traced plan (:class:`gpuparams.graph.Plan`) replayed on input buffers owned by the graph
  (the inputs are copied in before each launch, the loss is copied out after it);
- the loss: ``SoftmaxCrossEntropyLoss`` (class-index labels, logits on the last axis) or
  ``L2Loss``, each one kernel computing the per-example loss and the gradient of its sum
  (``kernels/loss.cu``) — the head gradient of ``loss.backward()`` is that of a sum;
- the backward of the plan: the operators' own backward functions, which write the parameters'
  gradients straight into their gradient buffers (tied parameters accumulate there);
- the update of every trained parameter by the fused SGD (with or without momentum and weight
  decay) or Adam kernel. Their hyperparameters are **not** frozen into the graph: the ``*_p``
  kernels read them from a small device array that the host fills before each launch with what
  ``Trainer.step`` would use for that step (the scheduled learning rate, Adam's bias-corrected
  ``lr_t``, ``rescale_grad = 1/batch_size``, the update counts), so ``set_learning_rate``, an
  ``lr_scheduler`` and Adam's per-step ``lr_t`` need no capture again.

Every buffer any captured launch touches is allocated before the capture or, on a GPU, inside it
from a memory pool private to the graph that a warm-up run filled beforehand; the graph keeps a
reference to all of them (and to the pool) for its whole life.

Safety
------
- The first capture of a signature is checked once: the captured step and the uncaptured step are
  run from the same saved state and must agree (bit for bit on the emulator, within 1e-6 on a GPU);
  this catches host work that would run only at capture. The uncaptured result is the one kept.
- Every operator of the plan must launch kernels of ours (view-only operators such as ``reshape``
  and ``flatten`` excepted); a host read (``asnumpy``, ``asscalar``) inside the region raises
  :class:`~gpuparams.errors.CaptureError`.
- A graph is dropped and captured again when a parameter or gradient gets a new buffer
  (``reset_ctx``, ``cast``, ``initialize(force_reinit=True)`` where it reallocates), a ``grad_req``
  changes, the trainer's states are replaced (``load_states``, a new parameter dtype), or the net's
  plans are cleared (``hybridize()`` again); a new input signature gets a graph of its own.
- What cannot be captured — a CPU context, an operator without a kernel, an
  ``autograd.Function`` (its Python ``forward``/``backward`` must run at every step), another loss,
  ``grad_req='add'``, an optimizer other than SGD and Adam, a distributed kvstore, parameters on several
  contexts — runs as the uncaptured step with **one** :class:`~gpuparams.errors.CaptureFallbackWarning`
  per step object that says why.

Without ``static_alloc=True, static_shape=True`` the step simply runs uncaptured, silently.
"""
from __future__ import annotations

import math
import warnings

import numpy as np

from . import autograd
from ._ndarray import NDArray, from_backend
from ._tracing import state as _state
from .autograd import GradSink
from .errors import CaptureError, CaptureFallbackWarning

__all__ = ["TrainStep", "step", "MAX_GRAPHS"]

#: Input signatures one :class:`TrainStep` keeps graphs for (least recently used dropped).
MAX_GRAPHS = 8

#: Operators that only make a view of their input: they launch nothing and need nothing replayed.
VIEW_OPERATORS = frozenset({"reshape", "flatten", "Flatten", "expand_dims", "squeeze"})

# Hyperparameters per update kind, in the order the *_p kernels read them (elementwise_launch).
_WIDTHS = {"sgd": 4, "sgd_mom": 5, "adam": 9}


class TrainStep:
    """One training step as a callable: ``loss = step(data, label)`` records ``net(data)``, applies
    ``loss_fn``, runs backward and ``trainer.step(batch_size)``, and returns the per-example loss.

    With ``net.hybridize(static_alloc=True, static_shape=True)`` on a device with our kernels, the
    step is captured as one graph per input signature from the second call on (see
    :mod:`gpuparams.graph_step`).

    Parameters
    ----------
    net : Block
        Usually a hybridized ``HybridBlock``.
    loss_fn : Block
        E.g. ``gluon.loss.SoftmaxCrossEntropyLoss()``; captured: ``SoftmaxCrossEntropyLoss`` with
        class-index labels and ``L2Loss``, with the default ``batch_axis=0`` and no sample weights.
    trainer : Trainer
    batch_size : int, optional
        Passed to ``trainer.step`` (default: the first axis of ``data``).

    Attributes
    ----------
    captured : bool
        Whether the last call launched a captured graph.
    capture_failed : str or None
        Why the step fell back to the uncaptured step (it then stays uncaptured), or None.
    """

    def __init__(self, net, loss_fn, trainer, batch_size=None):
        if batch_size is not None and (isinstance(batch_size, bool)
                                       or not isinstance(batch_size, (int, float)) or not batch_size > 0):
            raise ValueError(f"graph.step: batch_size must be a positive number or None, got {batch_size!r}")
        self.net = net
        self.loss_fn = loss_fn
        self.trainer = trainer
        self.batch_size = batch_size
        self.captured = False
        self.capture_failed = None
        self._graphs = {}      # signature -> _StepGraph (insertion order = least recently used first)
        self._seen = {}        # signature -> the prediction's shape, from the uncaptured first call
        self._captures = 0
        self._replays = 0
        self._validations = 0
        self._pred_shape = None

    # ----------------------------------------------------------------- public
    def __call__(self, data, label):
        """Run one step on ``data`` and ``label``; returns the per-example loss (an NDArray)."""
        self.captured = False
        if self.capture_failed is not None or not _wants_capture(self.net):
            return self._uncaptured(data, label)
        try:
            if not isinstance(data, NDArray) or not isinstance(label, NDArray):
                raise CaptureError("data and label must be NDArrays to be copied into the graph's buffers")
            key = self._key(data, label)
            graph = self._graphs.pop(key, None)
            if graph is not None and not graph.valid():
                graph = None  # a buffer, grad_req, plan or trainer state changed: capture again
            if graph is None:
                plans = getattr(self.net, "_plans", None)
                if key not in self._seen or plans is None or key[0] not in plans:
                    # The first call of a signature, or the first after the net's plans were cleared
                    # (hybridize() again, cast): it traces the net, and finishes deferred
                    # initialization, so the parameters are checked at the next call.
                    reason = self._static_reason(data, label, parameters=False)
                    if reason is not None:
                        raise CaptureError(reason)
                    loss = self._uncaptured(data, label)
                    self._seen[key] = self._pred_shape
                    while len(self._seen) > 4 * MAX_GRAPHS:
                        self._seen.pop(next(iter(self._seen)))
                    return loss
                reason = self._static_reason(data, label)
                if reason is not None:
                    raise CaptureError(reason)
                try:
                    graph = _StepGraph(self, key, data, self._seen[key])
                except CaptureError:
                    raise
                except Exception as exc:  # nothing of the step ran: the uncaptured step is safe
                    raise CaptureError(f"capturing failed with {type(exc).__name__}: {exc}") from exc
                self._captures += 1
                return self._validate(key, graph, data, label)
            self._remember(key, graph)
        except CaptureError as exc:
            return self._fall_back(str(exc), data, label)
        self._replays += 1
        self.captured = True
        return graph.run(data, label)

    def cache_info(self):
        """``{'graphs', 'captures', 'replays', 'validations', 'capture_failed'}``: graphs kept, graphs
        captured (a new signature or an invalidated graph makes another), calls that launched a
        graph, first-capture checks run, and why the step fell back (or None)."""
        return {"graphs": len(self._graphs), "captures": self._captures, "replays": self._replays,
                "validations": self._validations, "capture_failed": self.capture_failed}

    # ----------------------------------------------------------------- uncaptured
    def _uncaptured(self, data, label):
        with autograd.record():
            pred = self.net(data)
            loss = self.loss_fn(pred, label)
        loss.backward()
        self.trainer.step(self.batch_size or data.shape[0])
        self._pred_shape = pred.shape if isinstance(pred, NDArray) else None
        return loss

    def _fall_back(self, why, data, label, run=True):
        """Give up capturing (for good: one warning) and run the uncaptured step, unless ``run`` is
        False (the step already ran)."""
        self.capture_failed = why
        self._graphs.clear()
        warnings.warn(f"{getattr(self.net, 'name', type(self.net).__name__)}: the training step runs "
                      f"uncaptured (forward, backward and update as separate launches): {why}",
                      CaptureFallbackWarning, stacklevel=3)
        return self._uncaptured(data, label) if run else None

    # ----------------------------------------------------------------- checks
    def _static_reason(self, data, label, parameters=True):
        """Why this step cannot be captured at all (None when it may be); the parameters' contexts
        and dtypes are checked with ``parameters`` only (before the first step they may still wait
        for deferred initialization)."""
        from . import loss as gloss
        from . import optimizer as gopt
        from .backend import device_of
        if not isinstance(data, NDArray) or not isinstance(label, NDArray):
            return "data and label must be NDArrays to be copied into the graph's buffers"
        dev = device_of(data)
        if not dev.custom_kernels:
            return f"the data is on {data.context}, which runs no kernels of ours (use a gpu context)"
        if label.context is not data.context:
            return f"the label is on {label.context} but the data on {data.context}"
        if data.dtype != np.float32:
            return f"the data is {data.dtype}; the captured kernels take float32"
        lf = self.loss_fn
        if type(lf) is gloss.SoftmaxCrossEntropyLoss:
            if not lf._sparse_label or lf._from_logits or lf._weight is not None:
                return ("SoftmaxCrossEntropyLoss is captured with sparse_label=True, from_logits=False "
                        "and no weight only")
        elif type(lf) is gloss.L2Loss:
            if lf._weight is None:
                return "L2Loss with weight=None is not captured"
        else:
            return (f"the loss {type(lf).__name__} has no captured kernel (captured: "
                    "SoftmaxCrossEntropyLoss with class labels, L2Loss)")
        if lf._batch_axis != 0:
            return f"{type(lf).__name__} with batch_axis={lf._batch_axis} is not captured (0 is)"
        if getattr(lf, "_forward_hooks", None) or getattr(lf, "_forward_pre_hooks", None):
            return f"the loss {type(lf).__name__} has forward hooks, which run Python at each call"
        trainer = self.trainer
        if trainer._dist is not None:
            return "the trainer uses a distributed kvstore (its allreduce is not a kernel of ours)"
        opt = trainer.optimizer
        if type(opt) not in (gopt.SGD, gopt.Adam):
            return (f"the optimizer {type(opt).__name__} has no fused kernel (captured: SGD, "
                    "SGD with momentum, Adam)")
        for p in trainer._params:
            if p.grad_req == "add":
                return (f"parameter {p.name} has grad_req='add': its gradient accumulates across "
                        "steps, which a replayed graph would do without your zero_grad() between")
            if p.grad_req == "null" or not parameters:
                continue
            try:
                ctxs = p.list_ctx()
            except RuntimeError:
                return f"parameter {p.name} is not initialized yet"
            if len(ctxs) != 1 or ctxs[0] is not data.context:
                return f"parameter {p.name} lives on {list(ctxs)}; the captured step runs on one context"
            if p.dtype != np.float32:
                return f"parameter {p.name} is {np.dtype(p.dtype).name}; the captured kernels take float32"
        return None

    def _key(self, data, label):
        from .graph import signature
        with autograd.record():
            net_key = signature((data,))
        bs = self.batch_size or data.shape[0]
        return net_key, label.shape, label.dtype, bs

    def _remember(self, key, graph):
        self._graphs[key] = graph
        while len(self._graphs) > MAX_GRAPHS:
            self._graphs.pop(next(iter(self._graphs)))

    # ----------------------------------------------------------------- first-capture check
    def _validate(self, key, graph, data, label):
        """Run the new graph and the uncaptured step from the same state; they must agree (then the
        graph is kept for the next calls, else the step falls back).

        Returns the uncaptured step's loss (its state is the one kept, whatever the outcome)."""
        self._validations += 1
        saved = graph.snapshot()
        captured_loss = graph.run(data, label)
        captured = graph.state_copies()
        graph.restore(saved)
        loss = self._uncaptured(data, label)
        reference = graph.state_copies()
        exact = graph.device.emulated
        pairs = [("the loss", captured_loss._data, loss._data)] + [
            (name, a, b) for (name, a), (_, b) in zip(captured, reference)]
        for name, a, b in pairs:
            if not _agree(graph.device.xp, a, b, exact):
                self._fall_back(f"the captured step does not reproduce the uncaptured one ({name} "
                                "differs): some operator of the step does host work or allocates "
                                "what a replay cannot redo", data, label, run=False)
                return loss
        self._remember(key, graph)
        return loss


def _agree(xp, a, b, exact):
    a = a.get() if hasattr(a, "get") else a
    b = b.get() if hasattr(b, "get") else b
    if a.shape != b.shape:
        return a.size == b.size and _agree(xp, a.reshape(b.shape), b, exact)
    if exact:
        return np.array_equal(a, b, equal_nan=True)
    return bool(np.allclose(a, b, rtol=1e-6, atol=1e-6, equal_nan=True))


def _wants_capture(net):
    flags = getattr(net, "_flags", None)
    return bool(flags) and getattr(net, "_active", False) and flags["static_alloc"] and flags["static_shape"]


def _capture(device):
    """A :class:`gpuparams.graph.Capture` on ``device`` (graph imports this module: import late)."""
    from .graph import Capture
    return Capture(device)


class _Entry:
    """One trained parameter as the graph sees it: its buffers, its state and its hyper row."""

    __slots__ = ("index", "param", "data", "grad", "w_buf", "g_buf", "states", "state_arrays", "kind",
                 "row")

    def __init__(self, index, param, data, grad, states, kind, row):
        self.index, self.param, self.data, self.grad = index, param, data, grad
        self.w_buf, self.g_buf = data._data, grad._data  # what the launches point at
        self.states = states
        self.state_arrays = tuple(a._data for a in (states[0] or ()))
        self.kind, self.row = kind, row


class _StepGraph:
    """The graph of one input signature of a :class:`TrainStep`."""

    def __init__(self, owner, key, data, pred_shape):
        from . import optimizer as gopt
        from .backend import device_of
        from .backend import elementwise_launch as EL
        from .graph import _wrap

        net, trainer = owner.net, owner.trainer
        self.owner = owner
        plan = net._plans.get(key[0]) if getattr(net, "_plans", None) is not None else None
        if plan is None:
            raise CaptureError("the net has no traced plan for this input under autograd.record() "
                               "(is it a HybridBlock, hybridized?)")
        from .graph import _function_capture_reason
        reason = _function_capture_reason(plan)
        if reason is not None:  # checked before anything runs: the uncaptured step is the fallback
            raise CaptureError(reason)
        if plan.output[0] != "slot":
            raise CaptureError("the net returns several outputs; the captured step takes one prediction")
        if pred_shape is None or len(pred_shape) != 2:
            raise CaptureError(f"the prediction has shape {pred_shape}; the captured loss kernels take "
                               "a 2-D (batch, classes or outputs) prediction")
        dev = device_of(data)
        self.device = dev
        self.plan = plan
        self.net_plans = net._plans
        xp = dev.xp
        ctx = data.context
        self.ctx = ctx
        self.cls = type(data)
        self.loss_kind = "sce" if type(owner.loss_fn).__name__ == "SoftmaxCrossEntropyLoss" else "l2"
        rows, cols = pred_shape
        self.pred_shape = pred_shape
        opt = trainer.optimizer
        self.opt = opt
        self.adam = type(opt) is gopt.Adam

        # Trained parameters: buffers, states (made by the first, uncaptured step), hyper rows.
        entries = []
        for i, p in enumerate(trainer._params):
            if p.grad_req == "null":
                continue
            states = trainer._states.get(i)
            if states is None:
                raise CaptureError(f"parameter {p.name} has no optimizer state yet (it was not updated by "
                                   "the first step: is it used by the net?)")
            d, g = p.data(ctx), p.grad(ctx)
            if not g._data.flags.c_contiguous:
                raise CaptureError(f"the gradient buffer of {p.name} is not contiguous")
            kind = "adam" if self.adam else "sgd_mom" if states[0] else "sgd"
            entries.append(_Entry(i, p, d, g, states, kind, len(entries)))
        self.entries = entries
        self.trained = {id(e.data): e for e in entries}
        self.plan_params = [(p, c, p.data(c)._data) for _, p, c in plan.params]
        self.grad_reqs = [(p, p.grad_req) for p in trainer._params]
        self.width = len(EL.ADAM_HYPER)  # the longest row
        # Buffers, all made before the capture.
        with dev.scope():
            self.x_buf = xp.empty(data.shape, dtype=np.float32)
            self.y_buf = xp.empty((rows,) if self.loss_kind == "sce" else pred_shape, dtype=np.float32)
            self.loss_buf = xp.empty((rows,), dtype=np.float32)
            self.dpred = xp.empty(pred_shape, dtype=np.float32)
            self.stats = xp.empty((rows, 2), dtype=np.float32)
            self.head = xp.ones((rows,), dtype=np.float32)
            self.hyper_host = np.zeros((max(1, len(entries)), self.width), dtype=np.float32)
            self.hyper = xp.zeros(self.hyper_host.shape, dtype=np.float32)
        self.statics = [_wrap(self.x_buf, ctx, self.cls)]
        if self.loss_kind == "l2":
            w = owner.loss_fn._weight / 2
            self.l2_scale = np.float32(w)
            # The uncaptured gradient: the mean's backward (1/cols, in float32), times weight/2.
            self.l2_gscale = np.float32(np.float32(np.float32(1.0) / np.float32(cols)) * np.float32(w))
        self.stream = self.pool = self.graph = None
        recorder = _capture(dev)
        if dev.emulated:
            self._record(recorder)
        else:  # pragma: no cover - needs a real GPU
            self._capture_on_gpu(recorder)
        self.launches = recorder.launches

    # ----------------------------------------------------------------- the region
    def _record(self, recorder):
        previous = _state.capture
        _state.capture = recorder
        try:
            self._region(recorder)
        finally:
            _state.capture = previous

    def _capture_on_gpu(self, recorder):  # pragma: no cover - needs a real GPU
        import cupy
        # A memory pool of the graph's own: a warm-up run of forward, loss and backward (no update)
        # fills it with the blocks the region allocates, so that the capture takes them from its
        # cache instead of calling cudaMalloc, and no block the graph uses is ever handed to
        # anything else (the recorder also keeps a reference to every buffer a launch touches).
        self.pool = cupy.cuda.MemoryPool()
        self.stream = cupy.cuda.Stream(non_blocking=True)
        # A non-blocking stream does not wait for the legacy default stream: order it after the
        # work already queued on the current stream (the first step, the parameters' writes).
        self.stream.wait_event(cupy.cuda.get_current_stream().record())
        with cupy.cuda.using_allocator(self.pool.malloc), self.stream:
            warm = _capture(self.device)
            previous = _state.capture
            _state.capture = warm
            try:
                self._region(warm, update=False)
            finally:
                _state.capture = previous
            self.stream.synchronize()
            del warm
            _state.capture = recorder
            self.stream.begin_capture()
            try:
                self._region(recorder)
            except Exception as exc:
                try:  # end the (possibly invalidated) capture, so the stream is left usable
                    self.stream.end_capture()
                except Exception:
                    pass
                if isinstance(exc, CaptureError):
                    raise
                raise CaptureError(f"CUDA stream capture failed: {type(exc).__name__}: {exc}") from exc
            finally:
                _state.capture = previous
            self.graph = self.stream.end_capture()
        self.graph.upload(self.stream)
        # Two pinned host buffers for the hyperparameters, used in turn: a call writes one while
        # the previous call's asynchronous copy may still read the other.
        self._pinned = []
        for _ in range(2):
            mem = cupy.cuda.alloc_pinned_memory(self.hyper_host.nbytes)
            host = np.frombuffer(mem, np.float32, self.hyper_host.size).reshape(self.hyper_host.shape)
            self._pinned.append([host, None])  # [buffer, event after its last copy]
        self._slot = 0

    def _region(self, recorder, update=True):
        """Everything the graph does, as launches: forward, loss, backward, updates."""
        from .backend import kernels as K
        from .graph import _FusedBackward
        plan, dev = self.plan, self.device

        def one_step(step):
            if recorder.count == one_step.seen and step.name not in VIEW_OPERATORS:
                raise CaptureError(f"operator {step.name!r} ran no kernel of ours (host or library "
                                   "work cannot be captured into the graph)")
            one_step.seen = recorder.count
        one_step.seen = recorder.count

        fused = _FusedBackward(plan.block_name)
        previous = _state.collect
        with autograd.record():
            _state.collect = fused.record
            try:
                from .ops import _registry
                out = _registry.run_plan_on(dev, lambda: plan._loop(self.statics, one_step))
            finally:
                _state.collect = previous
            out = fused.attach(out)
        if not isinstance(out, NDArray) or out.shape != self.pred_shape:
            raise CaptureError(f"the net's output is not one array of shape {self.pred_shape}")
        if out._node is None:
            raise CaptureError("the net's output does not depend on any trained parameter")
        pred = out._data
        if not pred.flags.c_contiguous:
            raise CaptureError("the net's output is not contiguous")
        before = recorder.count
        if self.loss_kind == "sce":
            K.softmax_ce_forward(dev, pred, self.y_buf, loss=self.loss_buf, stats=self.stats)
            K.softmax_ce_backward(dev, pred, self.y_buf, self.stats, self.head, out=self.dpred)
        else:
            K.l2_rows(dev, pred, self.y_buf, scale=self.l2_scale, gscale=self.l2_gscale,
                      loss=self.loss_buf, dp=self.dpred)
        assert recorder.count > before
        # Backward: the plan's fused node, with every trained parameter's gradient buffer as a sink.
        node = out._node
        written = set()
        needs = []
        for x in node.inputs:
            if id(x) in self.trained:
                needs.append(GradSink(x, written))
            else:
                needs.append(autograd._wants_grad(x))
        with dev.scope():
            grads = node.backward(self.dpred, tuple(needs))
        for x, need, g in zip(node.inputs, needs, grads):
            entry = self.trained.get(id(x))
            if need and g is not None:
                what = entry.param.name if entry is not None else f"an input of shape {x.shape}"
                raise CaptureError(f"the gradient of {what} is not written in place by a kernel of ours")
        missing = [e.param.name for e in self.entries if id(e.data) not in written]
        if missing:
            raise CaptureError(f"no gradient reaches parameter(s) {', '.join(missing)} in the captured "
                               "step (the uncaptured step would call them stale)")
        node.freed = True
        if not update:
            return
        for e in self.entries:
            h = self.hyper[e.row]
            h = h[:_WIDTHS[e.kind]]
            w, g = e.data._data, e.grad._data
            if e.kind == "adam":
                K.adam_update_from(dev, w, g, e.state_arrays[0], e.state_arrays[1], h)
            else:
                K.sgd_update_from(dev, w, g, e.state_arrays[0] if e.kind == "sgd_mom" else None, h)

    # ----------------------------------------------------------------- checks
    def valid(self):
        """False when anything the graph points at was replaced since the capture."""
        net = self.owner.net
        if getattr(net, "_plans", None) is not self.net_plans or self.plan not in self.net_plans.values():
            return False
        trainer = self.owner.trainer
        if trainer.optimizer is not self.opt:
            return False
        for p, req in self.grad_reqs:
            if p.grad_req != req:
                return False
        for p, c, buffer in self.plan_params:
            if _buffer_of(p, c) is not buffer:
                return False
        for e in self.entries:
            d = e.param._data
            if (d is None or len(d) != 1 or d[0] is not e.data or e.data._data is not e.w_buf
                    or e.data._grad is not e.grad or e.grad._data is not e.g_buf):
                return False
            states = trainer._states.get(e.index)
            if states is not e.states or tuple(a._data for a in (states[0] or ())) != e.state_arrays:
                return False
        return True

    # ----------------------------------------------------------------- running
    def run(self, data, label):
        """Copy the inputs in, write this step's hyperparameters, launch, copy the loss out."""
        if data.shape != self.x_buf.shape:
            raise CaptureError(f"data of shape {data.shape} for a graph of {self.x_buf.shape}")
        trainer, opt, dev = self.owner.trainer, self.opt, self.device
        bs = self.owner.batch_size or data.shape[0]
        lab = label._data
        if lab.size != self.y_buf.size:
            # As the uncaptured loss would refuse it (the first call of this signature did not).
            raise ValueError(f"label of shape {label.shape} does not fit the prediction of shape "
                             f"{self.pred_shape}")
        if self.loss_kind == "sce" and dev.emulated:
            _check_labels(lab, self.pred_shape[1])  # costs nothing on the host; a GPU clips instead
        # The trainer's bookkeeping of trainer.step(), in the same order (the gradients are fresh:
        # the graph writes them).
        for e in self.entries:
            e.data._fresh_grad = True
        trainer._prepare(bs, False)
        hyper = self.hyper_host
        clip = opt.clip_gradient or -1.0  # 0 is no clipping, as in SGD/Adam.update (MXNet's rule)
        rescale = opt.rescale_grad
        for e in self.entries:
            t = opt._update_count(e.index)
            lr, wd = opt._get_lr(e.index), opt._get_wd(e.index)
            row = hyper[e.row]
            if e.kind == "adam":
                b1, b2 = opt.beta1, opt.beta2
                lr_t = lr * math.sqrt(1.0 - b2 ** t) / (1.0 - b1 ** t)
                row[:9] = (lr_t, b1, 1.0 - b1, b2, 1.0 - b2, opt.epsilon, wd, rescale, clip)
            elif e.kind == "sgd_mom":
                row[:5] = (lr, opt.momentum, wd, rescale, clip)
            else:
                row[:4] = (lr, wd, rescale, clip)
        with dev.scope():
            if dev.emulated:
                self.hyper[...] = hyper
                self.x_buf[...] = data._data
                self.y_buf[...] = lab.reshape(self.y_buf.shape)
                run = dev.run
                for fn, grid, block, args, shared_mem in self.launches:
                    run(fn, grid, block, args, shared_mem)
                loss = self.loss_buf.copy()
            else:  # pragma: no cover - needs a real GPU
                import cupy
                current = cupy.cuda.get_current_stream()
                # after what the current stream queued (the inputs, set_data, the previous step)
                self.stream.wait_event(current.record())
                slot = self._pinned[self._slot]
                self._slot ^= 1
                if slot[1] is not None:  # the copy that last read this pinned buffer is done
                    slot[1].synchronize()
                slot[0][...] = hyper
                with self.stream:
                    self.hyper.set(slot[0], stream=self.stream)  # pinned: an asynchronous copy
                    slot[1] = self.stream.record()
                    self.x_buf[...] = data._data
                    self.y_buf[...] = lab.reshape(self.y_buf.shape)
                    self.graph.launch(self.stream)
                    loss = self.loss_buf.copy()
                    done = self.stream.record()
                # No host synchronisation: whatever the caller queues next on its stream (reading
                # the loss, writing the input array or the parameters) waits for this step.
                current.wait_event(done)
        for e in self.entries:
            e.data._fresh_grad = False
            e.data._version[0] += 1  # as the optimizer marks an in-place update
            e.grad._version[0] += 1
        return from_backend(loss, self.ctx, self.cls)

    # ----------------------------------------------------------------- state (first-capture check)
    def _state_arrays(self):
        out = []
        for e in self.entries:
            out.append((e.param.name, e.data._data))
            for k, a in enumerate(e.state_arrays):
                out.append((f"{e.param.name} state {k}", a))
        return out

    def snapshot(self):
        opt = self.opt
        arrays = [(a, a.copy()) for _, a in self._state_arrays()]
        arrays += [(e.grad._data, e.grad._data.copy()) for e in self.entries]
        arrays += [(b, b.copy()) for _, _, b in self.plan_params]
        return arrays, dict(opt._index_update_count), opt.num_update, opt.rescale_grad

    def restore(self, saved):
        arrays, counts, num_update, rescale = saved
        with self.device.scope():
            for a, copy in arrays:
                a[...] = copy
        opt = self.opt
        opt._index_update_count = counts
        opt.num_update = num_update
        opt.rescale_grad = rescale

    def state_copies(self):
        return [(name, a.copy()) for name, a in self._state_arrays()]


def _buffer_of(param, ctx):
    """The backend array of ``param`` on ``ctx`` now (None when it has none there)."""
    data = param._data
    i = param._ctx_index.get(ctx) if data is not None else None
    return None if i is None or i >= len(data) else data[i]._data


def _check_labels(lab, classes):
    from .ops.indexing import whole_indices
    name = "SoftmaxCrossEntropyLoss"
    idx = whole_indices(name, lab, "label")
    if idx.size and (idx.min() < 0 or idx.max() >= classes):
        bad = idx[(idx < 0) | (idx >= classes)].reshape(-1)[0]
        raise ValueError(f"{name}: label {int(bad)} is outside the {classes} classes 0..{classes - 1} "
                         "of axis 1")


def step(net, loss_fn, trainer, batch_size=None):
    """A :class:`TrainStep` for ``net``, ``loss_fn`` and ``trainer`` (see there).

    Parameters
    ----------
    net : Block
    loss_fn : Block
    trainer : Trainer
    batch_size : int, optional

    Returns
    -------
    TrainStep

    Examples
    --------
    >>> import gpuparams as gp
    >>> from gpuparams import gluon, nd, nn
    >>> net = nn.HybridSequential(); net.add(nn.Dense(2)); net.initialize(); net.hybridize()
    >>> train = gp.graph.step(net, gluon.loss.L2Loss(), gluon.Trainer(net.collect_params(), 'sgd'))
    >>> train(nd.ones((4, 3)), nd.zeros((4, 2))).shape
    (4,)
    """
    return TrainStep(net, loss_fn, trainer, batch_size)

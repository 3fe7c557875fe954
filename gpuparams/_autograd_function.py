"""``autograd.Function``: an operation with a user-written forward and backward (MXNet's API).

>>> from gpuparams import nd, autograd
>>> class Sigmoid(autograd.Function):
...     def forward(self, x):
...         y = 1 / (1 + nd.exp(-x))
...         self.save_for_backward(y)
...         return y
...     def backward(self, dy):
...         y, = self.saved_tensors
...         return dy * y * (1 - y)
>>> x = nd.array([0.0]); x.attach_grad()
>>> with autograd.record():
...     y = Sigmoid()(x)
>>> y.backward(); x.grad.asnumpy().tolist()
[0.25]

``forward`` runs with recording paused (its operations are not recorded one by one); the call is
recorded as **one** node whose backward is the user's ``backward``, run (also unrecorded) with one
gradient per output, returning one gradient per input. With several outputs, they are slices of one
hidden joint array, so ``backward`` runs once with every output's gradient, as in MXNet. An instance
can be called once (MXNet's rule: it holds the saved tensors of that call).

Inside a hybridized ``hybrid_forward`` the call is traced as **one** step of the plan
(:class:`gpuparams.graph.FunctionCall`), not as the operators ``forward`` happens to run: each replay
calls ``forward`` again on a fresh copy of the instance (as it was before its call in the trace) and
records the user's ``backward``, so replays give the imperative values and gradients. Such a plan
runs Python at each call, so it is not captured as a CUDA graph (``CaptureFallbackWarning``) and
cannot be exported (``GraphFormatError``).
"""
from __future__ import annotations

from . import backend
from .errors import AutogradError

__all__ = ["Function"]


class Function:
    """Base class of a custom differentiable operation: override :meth:`forward` and :meth:`backward`.

    Both take and return NDArrays; call the instance on the inputs (``f = MyOp(); y = f(x)``).
    """

    def __init__(self):
        self._used = False
        self.saved_tensors = ()

    def save_for_backward(self, *args):
        """Keep ``args`` for :meth:`backward` (as :attr:`saved_tensors`)."""
        self.saved_tensors = args

    def forward(self, *inputs):
        """Compute the outputs (an NDArray or a tuple of them) from the input NDArrays."""
        raise NotImplementedError(f"{type(self).__name__} must implement forward(self, *inputs)")

    def backward(self, *output_grads):
        """Return the gradient with respect to each input (one NDArray, or a tuple of them)."""
        raise NotImplementedError(f"{type(self).__name__} must implement backward(self, *output_grads)")

    def __call__(self, *inputs):
        from ._ndarray import NDArray
        from ._tracing import state
        name = type(self).__name__
        if self._used:
            raise AutogradError(f"autograd.Function {name!r}: each instance can be called only once (it "
                                f"holds that call's saved tensors); create another, e.g. {name}()(x)")
        for i, x in enumerate(inputs):
            if not isinstance(x, NDArray):
                raise TypeError(f"autograd.Function {name!r}: input {i} must be an NDArray, got "
                                f"{type(x).__name__}")
        tracer = state.tracer
        if tracer is not None and state.hook == tracer.record:
            # Inside a hybridize trace: the call becomes one step of the plan (graph.FunctionCall),
            # so that a replay runs forward and records the user's backward again, instead of
            # replaying the operators forward happened to call.
            return tracer.record_function(self, inputs)
        return self._invoke(inputs)

    def _invoke(self, inputs):
        """Run the call on the NDArrays ``inputs`` (checked by :meth:`__call__`) and record it."""
        from . import autograd
        from ._ndarray import NDArray
        from ._tracing import state
        name = type(self).__name__
        self._used = True
        with autograd.pause(train_mode=autograd.is_training()):
            outputs = self.forward(*inputs)
        single = isinstance(outputs, NDArray)
        outputs = (outputs,) if single else tuple(outputs)
        if not outputs or not all(isinstance(o, NDArray) for o in outputs):
            raise TypeError(f"autograd.Function {name!r}: forward must return an NDArray or a tuple of "
                            "NDArrays")
        # An output that is an input (forward returned x) would turn that leaf into a result: copy it.
        ids = {id(x) for x in inputs}
        with autograd.pause():
            outputs = tuple(o.copy() if id(o) in ids else o for o in outputs)
        if autograd.is_recording():
            if state.collect is not None:
                # A hybridized replay: its inputs may be values of the replay, which carry no tape
                # node of their own; the replay's node takes this call as one of its records.
                _record(self, name, tuple(inputs), outputs, state.collect)
            elif any(autograd._wants_grad(x) for x in inputs):
                _record(self, name, tuple(inputs), outputs)
        return outputs[0] if single else outputs


def _record(fn, name, inputs, outputs, collect=None):
    """Record the call: one tape node (or, with ``collect``, one record of a hybridized replay's
    node, :meth:`gpuparams.graph._FusedBackward.record`) whose backward is ``fn.backward``."""
    from .autograd import Node
    node_name = f"autograd.Function {name!r}"
    shapes = [o.shape for o in outputs]

    def call_backward(grads, needs):
        from . import autograd
        from ._ndarray import from_backend
        ctx = outputs_ctx
        with autograd.pause():
            result = fn.backward(*(from_backend(g.reshape(s), ctx) for g, s in zip(grads, shapes)))
        result = (result,) if not isinstance(result, (tuple, list)) else tuple(result)
        if len(result) != len(inputs):
            raise AutogradError(f"{node_name}: backward returned {len(result)} gradients for "
                                f"{len(inputs)} inputs; return one per input of forward")
        out = []
        for i, (x, g) in enumerate(zip(inputs, result)):
            if g is None or not needs[i]:
                out.append(None)
                continue
            if getattr(g, "shape", None) != x.shape or g._ctx is not x._ctx:
                raise AutogradError(f"{node_name}: backward's gradient {i} has shape "
                                    f"{getattr(g, 'shape', None)} on {getattr(g, '_ctx', None)}, but "
                                    f"input {i} has shape {x.shape} on {x._ctx}")
            out.append(g._data)
        return tuple(out)

    outputs_ctx = outputs[0]._ctx
    if len(outputs) == 1:
        single_backward = lambda g, needs: call_backward((g,), needs)  # noqa: E731
        if collect is not None:
            collect(outputs[0], node_name, inputs, single_backward, ())
        else:
            outputs[0]._node = Node(node_name, inputs, single_backward, ())
        return
    # Several outputs: each is a slice of one joint array (never materialized) whose gradient is the
    # concatenation of the outputs' gradients; the joint node calls backward once with all of them.
    from ._ndarray import from_backend
    device = backend.device_of(outputs[0])
    xp, dtype = device.xp, outputs[0].dtype
    bounds = [0]
    for o in outputs:
        bounds.append(bounds[-1] + o.size)
    with device.scope():
        joint = from_backend(xp.broadcast_to(xp.zeros((), dtype=dtype), (bounds[-1],)), outputs_ctx)

    def joint_backward(g, needs):
        return call_backward([g[bounds[k]:bounds[k + 1]] for k in range(len(outputs))], needs)
    if collect is not None:
        collect(joint, node_name, inputs, joint_backward, ())
    else:
        joint._node = Node(node_name, inputs, joint_backward, ())

    for k, o in enumerate(outputs):
        def part_backward(g, needs, k=k):
            full = xp.zeros(bounds[-1], dtype=g.dtype)
            full[bounds[k]:bounds[k + 1]] = g.reshape(-1)
            return (full,)
        if collect is not None:
            collect(o, node_name, (joint,), part_backward, ())
        else:
            o._node = Node(node_name, (joint,), part_backward, ())


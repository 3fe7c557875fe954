"""Reverse-mode automatic differentiation with MXNet's ``autograd`` interface.

Inside ``with autograd.record():`` every operation whose inputs take part in differentiation (arrays
with :meth:`~gpuparams.NDArray.attach_grad`, or results of recorded operations) attaches a
:class:`Node` to its result: the backward function and references to its inputs. ``backward`` walks
these nodes from the heads in reverse topological order and **sums** the contributions reaching each
array, so a value used several times (a tied parameter) gets the sum of all its gradients.
:func:`grad` runs the same pass but returns the gradients of chosen variables as new arrays and writes
no gradient buffer.

Each array carries a version counter that in-place writes bump; an operation that keeps an array for
its backward records the version, and backward refuses to run on an array that was changed since.
"""
from __future__ import annotations

import threading

from . import backend
from .errors import AutogradError

__all__ = [
    "record", "pause", "train_mode", "predict_mode", "is_recording", "is_training", "backward", "grad",
    "set_recording", "set_training", "mark_variables", "Function", "AutogradError",
]


class _State(threading.local):
    recording = False
    training = False


_state = _State()


def is_recording():
    """Whether operations are being recorded for backward (inside ``record()``)."""
    return _state.recording


def is_training():
    """Whether layers behave as in training (Dropout active); ``record()`` turns it on by default."""
    return _state.training


def set_recording(is_record):
    """Set the recording flag and return the previous value (MXNet-compatible)."""
    previous = _state.recording
    _state.recording = bool(is_record)
    return previous


def set_training(train):
    """Set the training flag and return the previous value (MXNet-compatible)."""
    previous = _state.training
    _state.training = bool(train)
    return previous


class _scope:
    """Set the recording and training flags (``None``: leave as is) and restore them on exit.

    A class rather than a generator context manager: ``with autograd.record():`` runs every step.
    """

    __slots__ = ("recording", "training", "previous")

    def __init__(self, recording, training):
        self.recording = recording
        self.training = training
        self.previous = None

    def __enter__(self):
        self.previous = (_state.recording, _state.training)
        if self.recording is not None:
            _state.recording = self.recording
        if self.training is not None:
            _state.training = self.training
        return None

    def __exit__(self, *exc):
        _state.recording, _state.training = self.previous
        return False


def record(train_mode=True):
    """Record operations for :func:`backward`; layers run in training mode unless ``train_mode=False``.

    Examples
    --------
    >>> from gpuparams import nd, autograd
    >>> x = nd.array([1.0, 2.0]); x.attach_grad()
    >>> with autograd.record():
    ...     y = (x * x).sum()
    >>> y.backward(); x.grad.asnumpy().tolist()
    [2.0, 4.0]
    """
    return _scope(True, bool(train_mode))


def pause(train_mode=False):
    """Stop recording inside a ``record()`` block (e.g. for metrics computed during training)."""
    return _scope(False, bool(train_mode))


def train_mode():
    """Run layers in training mode (Dropout active) without changing recording."""
    return _scope(None, True)


def predict_mode():
    """Run layers in inference mode (Dropout off) without changing recording."""
    return _scope(None, False)


class Node:
    """How one recorded result was computed.

    Attributes
    ----------
    inputs : tuple
        The operation's NDArray inputs (``None`` for constants such as Python scalars).
    backward : callable
        ``backward(grad, needs) -> tuple`` of input gradients (backend arrays or ``None``);
        ``needs[i]`` says whether input ``i`` wants a gradient, so expensive ones can be skipped.
    saved : tuple
        ``(array, version)`` pairs for the arrays whose values backward reads.
    name : str
        The operation's name, for error messages.
    graph_backward : callable or None
        The same backward written with recorded operations, ``graph_backward(grad, output, needs)``
        on NDArrays, used by ``grad(..., create_graph=True)``; None where the operator has none.
    """

    __slots__ = ("inputs", "backward", "saved", "name", "freed", "accepts_sinks", "graph_backward")

    def __init__(self, name, inputs, backward, saved, graph_backward=None):
        self.name = name
        self.inputs = inputs
        self.backward = backward
        self.saved = saved
        self.graph_backward = graph_backward
        self.freed = False
        # Operators that can write a leaf's gradient straight into its buffer (the dense kernels)
        # set this; they then receive a GradSink instead of True in ``needs`` for such leaves.
        self.accepts_sinks = False


class GradSink:
    """A leaf's gradient buffer handed to an operator that writes gradients in place.

    ``accumulate`` is False only for the first contribution to a ``grad_req='write'`` leaf in one
    backward pass; the operator must call :meth:`written` after storing its contribution. It is
    read when the operator uses the sink, so one sink serves every use of a tied leaf in a pass.
    """

    __slots__ = ("leaf", "buffer", "_state")

    def __init__(self, leaf, state):
        self.leaf = leaf
        self.buffer = leaf._grad._data
        self._state = state

    @property
    def accumulate(self):
        """Whether this contribution adds to the buffer (something was written before, or 'add')."""
        leaf = self.leaf
        return leaf._grad_req == "add" or id(leaf) in self._state

    def __bool__(self):
        return True

    def written(self):
        self._state.add(id(self.leaf))


_NDARRAY = []


def _ndarray_class():
    """:class:`~gpuparams.NDArray` (imported on first use: that module imports this one). Cached, as
    a relative import inside a function costs a trip through the import machinery at every call,
    and every backward pass asks for it."""
    if not _NDARRAY:
        from ._ndarray import NDArray
        _NDARRAY.append(NDArray)
    return _NDARRAY[0]


def _wants_grad(array):
    return array is not None and (array._node is not None or array._grad_req != "null")


def mark_variables(variables, gradients, grad_reqs="write"):
    """Mark arrays as leaves to differentiate, with the given gradient buffers (MXNet's API).

    What ``attach_grad`` does, except that the caller supplies the buffers: after ``backward``,
    ``gradients[i]`` holds (or, with ``'add'``, has accumulated) the gradient of ``variables[i]``.

    Parameters
    ----------
    variables : NDArray or list of NDArray
    gradients : NDArray or list of NDArray
        One buffer per variable, of its shape, dtype and context.
    grad_reqs : {'write', 'add', 'null'} or list of them
    """
    from ._ndarray import NDArray

    if isinstance(variables, NDArray):
        variables, gradients = [variables], [gradients]
    variables, gradients = list(variables), list(gradients)
    reqs = [grad_reqs] * len(variables) if isinstance(grad_reqs, str) else list(grad_reqs)
    if not len(variables) == len(gradients) == len(reqs):
        raise ValueError(f"mark_variables: {len(variables)} variables, {len(gradients)} gradients and "
                         f"{len(reqs)} grad_reqs; pass one of each per variable")
    for i, (v, g, req) in enumerate(zip(variables, gradients, reqs)):
        if not isinstance(v, NDArray) or not isinstance(g, NDArray):
            raise TypeError(f"mark_variables: variable {i} and its gradient must be NDArrays, got "
                            f"{type(v).__name__} and {type(g).__name__}")
        if req not in ("write", "add", "null"):
            raise ValueError(f"mark_variables: grad_reqs[{i}] must be 'write', 'add' or 'null', got {req!r}")
        if g.shape != v.shape or g.dtype != v.dtype or g._ctx is not v._ctx:
            raise ValueError(f"mark_variables: gradient {i} is {g.shape} {g.dtype.name} on {g._ctx} but "
                             f"its variable is {v.shape} {v.dtype.name} on {v._ctx}; they must match")
    for v, g, req in zip(variables, gradients, reqs):
        v._node = None
        v._grad_req = req
        v._grad = None if req == "null" else g
        v._fresh_grad = False


def backward(heads, head_grads=None, retain_graph=False, train_mode=True):
    """Compute the gradients of ``heads`` with respect to every array with an attached gradient.

    Parameters
    ----------
    heads : NDArray or list of NDArray
        Outputs to differentiate. A non-scalar head uses a head gradient of ones.
    head_grads : NDArray or list, optional
        Gradients of some scalar function with respect to each head (``None`` entries mean ones).
    retain_graph : bool
        Keep the graph so that ``backward`` can run through it again (default frees it).
    train_mode : bool
        Accepted for MXNet compatibility; backward uses the mode recorded in the forward pass.
    """
    _run_backward(heads, head_grads, retain_graph)


def grad(heads, variables, head_grads=None, retain_graph=None, create_graph=False, train_mode=True):
    """Return the gradients of ``heads`` with respect to ``variables`` without touching ``.grad``.

    The same pass as :func:`backward`, but the gradients come back as new arrays and no gradient
    buffer is read or written (``grad_req`` does not matter), so it can run beside a training loop.

    Parameters
    ----------
    heads : NDArray or list of NDArray
        Outputs to differentiate, recorded inside ``autograd.record()``.
    variables : NDArray or list of NDArray
        Arrays marked with ``attach_grad()`` before the forward pass (as MXNet requires); each must
        be reachable from the heads.
    head_grads : NDArray or list, optional
        Gradients with respect to each head (``None`` entries mean ones).
    retain_graph : bool or None
        Keep the graph for another backward; None (default) means ``create_graph``, i.e. free it.
    create_graph : bool
        Record the gradient computation, so that the returned gradients can be differentiated again
        (second derivatives, gradient penalties). Every operator on the path must have a recorded
        backward (``gpuparams.ops.higher_order_ops()``: elementwise arithmetic, ``exp log sqrt
        square sigmoid tanh relu sign``, ``dot``/``dense`` (1-D and 2-D operands), ``sum mean max
        min``, ``reshape transpose broadcast_to broadcast_axis``); another raises
        :class:`AutogradError` naming it. Where we differ: MXNet 1.9.1 supports this for far fewer
        operators (not even ``x * x``). ``retain_graph`` defaults to True here, since the recorded
        gradients refer to the forward graph.
    train_mode : bool
        Accepted for MXNet compatibility; the mode recorded in the forward pass is used.

    Returns
    -------
    list of NDArray
        One gradient per variable, with its shape, dtype and context (a list even for one variable,
        as in MXNet); recorded (differentiable) only with ``create_graph=True``.

    Examples
    --------
    >>> from gpuparams import nd, autograd
    >>> x = nd.array([1.0, 2.0, 3.0]); x.attach_grad()
    >>> with autograd.record():
    ...     y = (x * x).sum()
    >>> [g.asnumpy().tolist() for g in autograd.grad(y, [x])], x.grad.asnumpy().tolist()
    ([[2.0, 4.0, 6.0]], [0.0, 0.0, 0.0])
    """
    from ._ndarray import NDArray, from_backend

    variables = [variables] if isinstance(variables, NDArray) else list(variables)
    if not variables:
        raise ValueError("autograd.grad: variables is empty; pass the arrays to differentiate "
                         "with respect to")
    for i, v in enumerate(variables):
        if not isinstance(v, NDArray):
            raise TypeError(f"autograd.grad: variable {i} must be an NDArray, got {type(v).__name__}")
        if v._node is not None or v._grad_req == "null":
            raise AutogradError(
                f"autograd.grad: cannot differentiate with respect to variable {i} (shape {v.shape}) "
                "because it does not require a gradient; call attach_grad() on it before the forward "
                "pass in autograd.record() (results of recorded operations cannot be variables)")
    if retain_graph is None:
        retain_graph = create_graph
    if create_graph:
        grads, reached = _run_graph_backward(heads, head_grads, retain_graph)
    else:
        grads, reached = _run_backward(heads, head_grads, retain_graph, variables)
    out = []
    for i, v in enumerate(variables):
        if id(v) not in reached:
            raise AutogradError(
                f"autograd.grad: cannot differentiate with respect to variable {i} (shape {v.shape}) "
                "because it is unreachable from the heads; drop it from variables, or check that the "
                "heads were computed from it inside autograd.record()")
        g = grads.get(id(v))
        if g is None:  # reachable only through operations without a gradient for it
            out.append(v.zeros_like())
        elif create_graph:  # the recorded gradient itself (it may be a head gradient: never written)
            out.append(g)
        else:  # always a copy: g may be a head gradient, or shared with another variable
            with backend.device_of(v).scope():
                out.append(from_backend(g.reshape(v.shape).astype(v.dtype, copy=True), v._ctx, type(v)))
    return out


def _run_backward(heads, head_grads, retain_graph, variables=None):
    """The backward pass shared by :func:`backward` and :func:`grad`.

    Without ``variables``, it stores the gradients of the leaves in their ``.grad`` buffers. With
    ``variables``, it writes no buffer and returns ``(grads, reached)``: the summed gradients keyed by
    ``id`` of the leaves and the ``id`` of every array reachable from the heads.
    """
    NDArray = _ndarray_class()

    op_name = "backward" if variables is None else "autograd.grad"
    heads, head_grads = _head_gradients(op_name, heads, head_grads)

    grads = {}
    for head, head_grad in zip(heads, head_grads):
        if head_grad is None:
            g = head._ones_like_data()
        else:
            if isinstance(head_grad, NDArray) and head_grad._ctx is not head._ctx:
                raise ValueError(f"{op_name}: the head gradient is on {head_grad._ctx} but the head is on "
                                 f"{head._ctx}; use head_grad.as_in_context({head._ctx})")
            g = head_grad._data if isinstance(head_grad, NDArray) else head_grad
            if tuple(g.shape) != head.shape:
                # MXNet reads a head gradient as a flat buffer: another shape with the same number
                # of elements is accepted (reshaped); another size would read past it, so it is refused.
                if g.size != head.size:
                    raise ValueError(f"{op_name}: head gradient of shape {tuple(g.shape)} ({g.size} "
                                     f"elements) does not fit the head's shape {head.shape} "
                                     f"({head.size} elements)")
                g = g.reshape(head.shape)
        _accumulate(grads, head, g)

    order = _topological_order(heads)
    leaves = {}
    written = set()  # leaves whose gradient buffer an operator already wrote in this pass
    sinks = variables is None  # autograd.grad must not write into any gradient buffer
    for array in order:  # heads first
        g = grads.get(id(array))
        if g is None:
            continue
        node = array._node
        if node is None:
            leaves[id(array)] = array
            continue
        if node.freed:
            raise AutogradError(_FREED_MESSAGE.format(name=node.name))
        for saved, version in node.saved:
            if saved._version[0] != version:
                raise AutogradError(
                    f"an array of shape {saved.shape} that the backward of '{node.name}' needs was "
                    f"modified in place after it was used (version {version} -> {saved._version[0]}); "
                    "write to a copy, or make the change outside autograd.record()")
        inputs = node.inputs
        # _wants_grad inlined (this runs for every node of every backward pass)
        needs = [x is not None and (x._node is not None or x._grad_req != "null") for x in inputs]
        if node.accepts_sinks and sinks:
            needs = [_sink_for(x, written) if need else need for x, need in zip(inputs, needs)]
        needs = tuple(needs)
        if array._ctx.device_type == "gpu":
            with backend.device_of(array).scope():  # CuPy computes on the current device
                input_grads = node.backward(g, needs)
        else:
            input_grads = node.backward(g, needs)
        for x, need, xg in zip(inputs, needs, input_grads):
            if isinstance(need, GradSink):
                leaves[id(x)] = x
            if need and xg is not None:
                _accumulate(grads, x, xg)
        del grads[id(array)]
        if not retain_graph:
            node.freed = True
            node.backward = None
            node.saved = ()
            node.inputs = ()

    if variables is not None:
        return grads, {id(array) for array in order}
    for leaf in leaves.values():
        g = grads.get(id(leaf))
        if id(leaf) in written:
            if g is not None:
                leaf._grad._data += g.reshape(leaf.shape)
            leaf._grad._version[0] += 1
            leaf._fresh_grad = True
        elif g is not None:
            leaf._write_grad(g)


def _head_gradients(op_name, heads, head_grads):
    """Normalize ``heads`` / ``head_grads`` to two lists of equal length (shared by both passes)."""
    NDArray = _ndarray_class()

    if isinstance(heads, NDArray):
        heads = [heads]
        if head_grads is not None and not isinstance(head_grads, (list, tuple)):
            head_grads = [head_grads]
    elif isinstance(head_grads, NDArray):
        head_grads = [head_grads]  # a lone head gradient goes with a list of one head (as in MXNet)
    heads = list(heads)
    if head_grads is None:
        head_grads = [None] * len(heads)
    if len(head_grads) != len(heads):
        raise ValueError(f"{op_name}: {len(heads)} heads but {len(head_grads)} head gradients")
    for head in heads:
        if not _wants_grad(head):
            raise AutogradError(
                f"{op_name}() was called on an array that was not computed inside autograd.record() "
                "from arrays with attach_grad(); record the forward pass with `with autograd.record():` "
                "and call attach_grad() on the inputs you want gradients for")
        if head._node is not None and head._node.freed:
            raise AutogradError(_FREED_MESSAGE.format(name=head._node.name))
    return heads, list(head_grads)


def _run_graph_backward(heads, head_grads, retain_graph):
    """The backward pass of ``grad(..., create_graph=True)``: every gradient is an NDArray computed
    by the nodes' ``graph_backward`` with recording on, so the gradients are recorded results that
    can be differentiated again. Returns ``(grads, reached)`` like :func:`_run_backward`."""
    from ._ndarray import NDArray
    from .ops import add, higher_order_ops, reshape

    heads, head_grads = _head_gradients("autograd.grad", heads, head_grads)
    grads = {}

    def accumulate(array, g):
        if g.shape != array.shape:
            g = reshape(g, array.shape)
        previous = grads.get(id(array))
        grads[id(array)] = g if previous is None else add(previous, g)

    with _scope(True, None):
        for head, head_grad in zip(heads, head_grads):
            if head_grad is None:
                head_grad = head.ones_like()
            elif not isinstance(head_grad, NDArray):
                raise TypeError("autograd.grad(create_graph=True): head gradients must be NDArrays, "
                                f"got {type(head_grad).__name__}")
            elif head_grad._ctx is not head._ctx:
                raise ValueError(f"autograd.grad: the head gradient is on {head_grad._ctx} but the head "
                                 f"is on {head._ctx}; use head_grad.as_in_context({head._ctx})")
            elif head_grad.size != head.size:
                raise ValueError(f"autograd.grad: head gradient of shape {head_grad.shape} does not fit "
                                 f"the head's shape {head.shape}")
            accumulate(head, head_grad)

        order = _topological_order(heads)
        for array in order:
            g = grads.get(id(array))
            node = array._node
            if g is None or node is None:
                continue
            if node.graph_backward is None:
                raise AutogradError(
                    f"autograd.grad(create_graph=True): the backward of '{node.name}' is not recorded, "
                    "so it cannot be differentiated again. Second derivatives work through: "
                    f"{', '.join(higher_order_ops())}; compute this part with create_graph=False, or "
                    "rewrite it with those operators")
            _check_saved(node)
            needs = tuple(_wants_grad(x) for x in node.inputs)
            input_grads = node.graph_backward(g, array, needs)
            for x, need, xg in zip(node.inputs, needs, input_grads):
                if need and xg is not None:
                    accumulate(x, xg)
            if not retain_graph:
                del grads[id(array)]
                node.freed = True
                node.backward = node.graph_backward = None
                node.saved = ()
                node.inputs = ()
    return grads, {id(array) for array in order}


def _check_saved(node):
    for saved, version in node.saved:
        if saved._version[0] != version:
            raise AutogradError(
                f"an array of shape {saved.shape} that the backward of '{node.name}' needs was "
                f"modified in place after it was used (version {version} -> {saved._version[0]}); "
                "write to a copy, or make the change outside autograd.record()")


def _sink_for(x, written):
    if x._node is None and x._grad is not None and x._grad._data.flags.c_contiguous:
        return GradSink(x, written)
    return True


_FREED_MESSAGE = ("the graph through '{name}' was already freed by an earlier backward(); "
                  "pass retain_graph=True to the first backward() to run backward twice")


def _accumulate(grads, array, g):
    key = id(array)
    previous = grads.get(key)
    if previous is None:
        if tuple(g.shape) != array.shape:
            g = g.reshape(array.shape)
        grads[key] = g
    else:
        grads[key] = previous + g.reshape(previous.shape)


def _topological_order(heads):
    """Arrays reachable from ``heads`` through recorded nodes, every array before its inputs."""
    visited = set()
    postorder = []
    for head in heads:
        if id(head) in visited:
            continue
        visited.add(id(head))
        stack = [(head, iter(head._node.inputs if head._node is not None else ()))]
        while stack:
            array, children = stack[-1]
            for child in children:
                if child is not None and id(child) not in visited and _wants_grad(child):
                    visited.add(id(child))
                    stack.append((child, iter(child._node.inputs if child._node is not None else ())))
                    break
            else:
                stack.pop()
                postorder.append(array)
    postorder.reverse()
    return postorder


from ._autograd_function import Function  # noqa: E402  (it imports this module)

# A name MXNet has and gpuparams lacks (autograd.<name>) says "not supported yet".
from ._unsupported import module_getattr as _module_getattr  # noqa: E402

__getattr__ = _module_getattr(globals(), "autograd")

"""Thread-local state shared by the operator dispatcher, NDArray and the hybridize tracer.

It lives in its own module, with no imports of the package, because ``ndarray``, ``ops._registry``
and ``graph`` all read it and import one another. ``state.hook`` is the active tracer's recording
function while a ``hybrid_forward`` is being traced *and* no operator is running (the dispatcher
clears it for the duration of each recorded operator, so the operators an operator calls internally
are not recorded a second time, and the host reads they make are allowed).
"""
from __future__ import annotations

import contextlib
import threading


class _State(threading.local):
    hook = None      # tracer.record(op_name, dispatch, args, kwargs), or None
    tracer = None    # the active Tracer (kept while ``hook`` is cleared inside an operator)
    imperative = 0   # > 0: hybridized blocks run imperatively (tests, summary)
    capture = None   # the graph.Capture recording kernel launches (CUDA-graph capture), or None
    collect = None   # a replay's recorder of backward functions (one tape node per block call)


state = _State()


@contextlib.contextmanager
def suspended():
    """Run the body untraced (deferred parameter initialization inside a trace, for instance)."""
    hook, tracer = state.hook, state.tracer
    state.hook = state.tracer = None
    try:
        yield
    finally:
        state.hook, state.tracer = hook, tracer


def refuse_in_capture(what):
    """Raise :class:`~gpuparams.errors.CaptureError` for a host read inside a graph capture.

    A host read (``asnumpy``, ``asscalar``, ``float()``) would wait for work a graph capture only
    records, and its value would be frozen into the graph; the capture falls back instead.
    """
    from .errors import CaptureError
    raise CaptureError(f"{what} inside the captured region (a host synchronisation); read values "
                       "outside the step")


def refuse_host_work_in_capture(what):
    """Raise :class:`~gpuparams.errors.CaptureError` when array work that is not one of our kernel
    launches (a NumPy/CuPy copy or fill) would run inside a graph capture.

    A capture records kernel launches only: such work would run once, while capturing, and a replay
    would read what it left (the emulator runs it on the host; on a GPU it would also allocate
    inside the capture). A no-op outside a capture.
    """
    if state.capture is not None:
        from .errors import CaptureError
        raise CaptureError(f"{what} is array work outside our kernels, which a graph cannot capture")


def refuse(what, fix):
    """Raise the tracer's error when a host read or in-place write happens inside ``hybrid_forward``.

    Called by the NDArray methods that cannot be traced; a no-op unless a trace is active.
    """
    tracer = state.tracer
    if tracer is not None and state.hook is not None:
        tracer.refuse(what, fix)

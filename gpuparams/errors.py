"""Every error class of gpuparams, under one base class.

``except gpuparams.errors.GpuparamsError`` catches anything the package raises on purpose. Each class
also keeps the built-in base it has always had (a :class:`ShapeError` is a ``ValueError``, a
:class:`DeferredInitializationError` a ``RuntimeError``), so code written against those keeps working.
The modules that raise an error re-export its class under the old name (``gpuparams.ops.ShapeError``,
``gpuparams.parameter.DeferredInitializationError``).

>>> from gpuparams.errors import GpuparamsError, ShapeError
>>> issubclass(ShapeError, GpuparamsError) and issubclass(ShapeError, ValueError)
True
"""
from __future__ import annotations

__all__ = [
    "GpuparamsError", "ShapeError", "AxisError", "ContextMismatchError", "AutogradError",
    "GPUUnavailableError",
    "KernelCompileError", "BudgetError", "DeferredInitializationError", "ShapeInferenceError",
    "StaleGradientError",
    "ArrayFileError", "NVMLUnavailableError", "UsageError", "EmulatorError", "KernelFault",
    "BarrierError", "LaunchConfigError", "ArgumentError", "EmulatorCompileError", "SkipCase",
    "NotSupportedError", "UnsupportedNameError", "UnsupportedModuleError", "UnsupportedSubmoduleError",
    "ArrayConversionError",
    "TraceError",
    "GraphFormatError", "CaptureFallbackWarning", "CaptureError", "UnsupportedKVStoreError",
    "DistributedError", "BackendUnavailableError", "RankFailedError", "CollectiveTimeoutError",
    "ParameterMismatchError", "ParameterLoadError",
]


class GpuparamsError(Exception):
    """Base class of every error gpuparams raises on purpose."""


# ----------------------------------------------------------------------------- arrays and operators
class ShapeError(GpuparamsError, ValueError):
    """Operand shapes do not fit the operation; the message names the shapes."""


class AxisError(GpuparamsError, ValueError, IndexError):
    """An axis outside an array's dimensions; a ValueError and an IndexError, like NumPy's."""


class ArrayConversionError(GpuparamsError, TypeError, ValueError):
    """A source (e.g. a NumPy object array holding a string) has no number value for an NDArray.

    Both a ``TypeError`` (what gpuparams raises for unusable sources) and a ``ValueError`` (what MXNet
    1.9.1 raises for this case, from NumPy's conversion).
    """


class UnsupportedKVStoreError(GpuparamsError, NotImplementedError, ValueError):
    """A distributed kvstore name that is not provided (``'dist_async'``, ...): only the synchronous
    ``'dist_sync'`` / ``'dist_device_sync'`` are.

    A ``NotImplementedError`` (a name MXNet has and we do not) and a ``ValueError`` (an argument
    outside the accepted values).
    """


class NotSupportedError(GpuparamsError, NotImplementedError):
    """An MXNet operator, module or feature that gpuparams does not support yet; the message names it."""


class UnsupportedNameError(NotSupportedError, AttributeError):
    """A name that MXNet code may look up (``nd.foo``, ``x.foo``, ``gluon.foo``) that gpuparams lacks.

    Also an ``AttributeError``, so ``hasattr`` and ``getattr(obj, name, default)`` keep working.
    """


class UnsupportedModuleError(NotSupportedError, ImportError):
    """An MXNet module path that gpuparams lacks (``import gpuparams.gluon.rnn``,
    ``from gpuparams.gluon import rnn``).

    Also an ``ImportError`` (not a ``ModuleNotFoundError``, which Python's ``from ... import`` would
    swallow into a bare "cannot import name"), so ``import`` statements fail with this message and
    ``except ImportError`` fallbacks keep working.

    Parameters
    ----------
    message : str
    name : str, optional
        The module name that was imported (``ImportError.name``).
    """

    def __init__(self, message, name=None):
        super().__init__(message)
        # ImportError's own fields (its __init__ is not the one that runs here).
        self.msg, self.name = message, name

    def __reduce__(self):
        return (type(self), (str(self), self.name))


class UnsupportedSubmoduleError(UnsupportedModuleError, ModuleNotFoundError):
    """``gpuparams.<package>.<name>`` imported as a module where the package has no such module and
    says the name is not supported yet (``from gpuparams import metric``,
    ``from gpuparams.gluon.nn import Conv2D``); the message starts with Python's own
    "No module named ..." and goes on with the package's.

    A ``ModuleNotFoundError`` as usual for a name that is not there, but with ``name`` None: Python's
    ``from ... import`` replaces an error naming the very submodule it tried by a bare "cannot
    import name", which would drop the message.
    """


class ContextMismatchError(GpuparamsError, ValueError):
    """Operands live on different contexts; the message names both and the fix."""


class AutogradError(GpuparamsError, RuntimeError):
    """Misuse of autograd: backward on an unrecorded value, a freed graph, a modified saved array."""


# ----------------------------------------------------------------------------- devices and kernels
class GPUUnavailableError(GpuparamsError, RuntimeError):
    """A ``gpu(i)`` context was used where no such GPU can be reached; the message says why."""


class KernelCompileError(GpuparamsError, RuntimeError):
    """A kernel source failed to compile; carries the file name and the compiler's log.

    The one compile error of the package: the runtime kernel loader, the NVRTC compile gate and the
    CPU emulator all raise it (the emulator a subclass that is also an :class:`EmulatorError`).

    Parameters
    ----------
    filename : str
        The kernel file, e.g. ``'dense.cu'`` (``'<code>'`` for a source given as a string).
    log : str
        The compiler's output (NVRTC's program log, or g++'s messages under the emulator).
    device : str, optional
        Where it was being compiled for, e.g. ``'gpu(0)'`` or ``'emulated gpu(0)'``.
    compiler : str, optional
        Who compiled it (``'NVRTC'``, ``'emulator'``), named in the message.
    source : str, optional
        How the message names the source (default ``filename``; the loader says ``kernels/dense.cu``).
    """

    def __init__(self, filename, log, device="", compiler="", source=None):
        self.filename = filename
        self.log = log
        self.device = device
        self.compiler = compiler
        self.source = source
        by = f"{compiler}: " if compiler else ""
        where = f" for {device}" if device else ""
        super().__init__(f"{by}compiling {source or filename}{where} failed:\n{log}")

    def __reduce__(self):
        return (KernelCompileError, (self.filename, self.log, self.device, self.compiler, self.source))


class BudgetError(GpuparamsError, ValueError):
    """A ``// @budget`` line of a kernel file that does not follow the format."""


class EmulatorError(GpuparamsError, RuntimeError):
    """Base class of every error of the CUDA emulator."""


class EmulatorCompileError(KernelCompileError, EmulatorError):
    """A kernel source did not compile with the emulator's host compiler (``emulator.CompileError``)."""

    def __init__(self, filename, log):
        super().__init__(filename, log, compiler="emulator")

    def __reduce__(self):
        return (type(self), (self.filename, self.log))


class KernelFault(EmulatorError):
    """A CUDA thread did something that faults (or is undefined) on a GPU.

    Out-of-bounds or misaligned accesses, writes through a pointer to const, device ``assert``,
    ``__trap()``, integer division by zero, stack overflow. The launch is abandoned and the arrays
    passed to it are left unmodified.

    Attributes
    ----------
    kernel : str
        The kernel's entry name.
    block, thread : tuple of int or None
        ``blockIdx`` and ``threadIdx`` of the faulting CUDA thread, where known.
    file : str or None
        Source file of the fault, where known.
    line : int or None
        Source line of the fault, where known.
    argument : int or None
        1-based index of the pointer argument an invalid access hit, where known.
    offset : int or None
        Byte offset of that access from the start of the argument's array.
    """

    def __init__(self, message, kernel=None, block=None, thread=None, file=None, line=None,
                 argument=None, offset=None):
        self.kernel = kernel
        self.block = block
        self.thread = thread
        self.file = file
        self.line = line
        self.argument = argument
        self.offset = offset
        super().__init__(message)


class BarrierError(KernelFault):
    """Threads of a block wait at different ``__syncthreads`` sites, or no thread can proceed.

    Also raised for a warp collective whose mask names a lane that exited or that never calls it.
    ``file`` and ``line`` point at one of the barriers involved; the message lists all of them.
    """


class LaunchConfigError(EmulatorError):
    """A launch configuration a GPU would reject (block or grid size, shared memory)."""


class ArgumentError(EmulatorError, TypeError):
    """Kernel arguments that CuPy would pass differently from what the kernel's signature expects."""


# ----------------------------------------------------------------------------- parameters and training
class DeferredInitializationError(GpuparamsError, RuntimeError):
    """A parameter's value was asked for while its initialization waits for its shape.

    Raised by ``Parameter.data()`` (and friends) after ``initialize()`` but before the first forward
    pass has told the layer its input size. Run one batch through the network, or give the layer
    its input size (``in_units=...``), to initialize it at once.
    """


class ShapeInferenceError(DeferredInitializationError, ValueError):
    """A HybridBlock's deferred parameter shapes could not be inferred from its first inputs.

    Raised at the first call of a custom HybridBlock (without its own ``infer_shape``) when an
    operator in ``hybrid_forward`` receives a parameter whose unknown (0) dimensions it cannot
    infer, or whose known dimensions contradict the inputs. A ValueError too, as MXNet's "Deferred
    initialization failed because shape cannot be inferred" is.
    """


class ParameterLoadError(GpuparamsError, ValueError):
    """A parameter file does not fit the parameters it is loaded into (``load_parameters``,
    ``ParameterDict.load``); nothing was changed. The message lists every problem and the option
    that tolerates it; the problems are attributes too, for callers that word them their own way
    (``gpuparams train --resume`` prints them on one line).

    Attributes
    ----------
    path : str
        The file.
    missing : list of (str, tuple)
        Parameters the file lacks: name and the model's shape.
    extra : list of (str, tuple)
        File entries no parameter takes: key and the file's shape.
    wrong_shape : list of (str, tuple, tuple)
        Name, the model's shape and the file's shape.
    wrong_dtype : list of (str, str, str)
        Name, the model's dtype and the file's dtype.
    problems : list of str
        Every problem as text (including conflicting tied entries and values that cannot be
        converted), as the message lists them.
    """

    def __init__(self, message, path=None, missing=(), extra=(), wrong_shape=(), wrong_dtype=(),
                 problems=()):
        super().__init__(message)
        self.path = path
        self.missing, self.extra = list(missing), list(extra)
        self.wrong_shape, self.wrong_dtype = list(wrong_shape), list(wrong_dtype)
        self.problems = list(problems)

    def __reduce__(self):
        return (type(self), (str(self), self.path, self.missing, self.extra, self.wrong_shape,
                             self.wrong_dtype, self.problems))


class StaleGradientError(GpuparamsError, RuntimeError, UserWarning):
    """``Trainer.step`` found a parameter whose gradient no backward refreshed since the last step.

    Also a ``UserWarning``, the class MXNet raises in this situation, so code catching that keeps
    working.
    """


# ----------------------------------------------------------------------------- data loading
class DataLoaderWorkerError(GpuparamsError, RuntimeError):
    """A ``DataLoader`` worker failed (exited, timed out, or raised an exception that cannot be sent
    back); the message names the worker, the batch and, for an exception, its traceback."""


class DatasetDownloadError(GpuparamsError, OSError):
    """A dataset file could not be downloaded; the message names the URL that failed and where to put
    the file by hand.

    The parts of the message are attributes too, for callers that word it their own way (the
    ``train`` command prints them on one line).

    Attributes
    ----------
    file : str or None
        The file's name (``'train-images-idx3-ubyte.gz'``).
    target : str or None
        Where the file was to be saved, and where a hand-downloaded copy belongs.
    sha1 : str or None
        The file's published SHA-1 (hex).
    failures : list of (str, str)
        Each URL tried and why it failed, in the order tried.
    """

    def __init__(self, message, file=None, target=None, sha1=None, failures=()):
        super().__init__(message)
        self.file, self.target, self.sha1 = file, target, sha1
        self.failures = [tuple(f) for f in failures]


class DatasetChecksumError(GpuparamsError, ValueError):
    """A downloaded or hand-placed dataset file does not have the published SHA-1; the message names
    the file, the expected and the actual digest."""


class DatasetFormatError(GpuparamsError, ValueError):
    """A dataset file is not in the format it should be (IDX, CIFAR-10 binary); the message names the
    path and what is wrong."""


# ----------------------------------------------------------------------------- files, telemetry, CLI
class ArrayFileError(GpuparamsError, ValueError):
    """A file is not a valid gpuparams array or parameter file; the message names the path."""


class NVMLUnavailableError(GpuparamsError, RuntimeError):
    """NVML (the NVIDIA driver's management library) cannot be used here; the message says why."""


class SkipCase(GpuparamsError):
    """A benchmark case cannot run here (no GPU, no PyTorch); the message says why."""


class UsageError(GpuparamsError):
    """A command-line usage error: printed as one line, exit status 2."""


class TraceError(GpuparamsError, RuntimeError):
    """``hybridize``: something in ``hybrid_forward`` cannot be traced (a host read of a value, an
    in-place write, Python control flow on an array); the message names the block and the line."""


class GraphFormatError(GpuparamsError, ValueError):
    """An exported graph file (``*-symbol.json``) is malformed or names an unknown operator."""


class CaptureFallbackWarning(GpuparamsError, UserWarning):
    """``hybridize(static_alloc=True, static_shape=True)``: a plan could not be captured as one graph
    of kernel launches (the message says why) and runs as the uncaptured replay instead."""


class CaptureError(GpuparamsError, RuntimeError):
    """Why a plan cannot be captured as a graph of kernel launches; ``hybridize`` turns it into one
    :class:`CaptureFallbackWarning` and replays uncaptured."""


# ----------------------------------------------------------------------------- distributed training
class DistributedError(GpuparamsError, RuntimeError):
    """Base class of the errors raised by :mod:`gpuparams.distributed`."""


class BackendUnavailableError(DistributedError):
    """The requested communication backend (``'mpi'``, ``'nccl'``) cannot be used here; says why."""


class RankFailedError(DistributedError):
    """Another rank's process ended while this one waited for it; the message names it.

    Attributes
    ----------
    missing : list of int
        The ranks that are gone.
    """

    def __init__(self, message, missing=()):
        super().__init__(message)
        self.missing = list(missing)

    def __reduce__(self):
        return (type(self), (str(self), self.missing))


class CollectiveTimeoutError(DistributedError, TimeoutError):
    """A collective did not complete in time; the message names the ranks that never reached it.

    Attributes
    ----------
    missing : list of int
        The ranks that did not answer while this rank waited (crashed, hung, or much slower).
    """

    def __init__(self, message, missing=()):
        super().__init__(message)
        self.missing = list(missing)

    def __reduce__(self):
        return (type(self), (str(self), self.missing))


class ParameterMismatchError(DistributedError, ValueError):
    """The ranks train different parameter sets (names, shapes or dtypes); names the first one."""

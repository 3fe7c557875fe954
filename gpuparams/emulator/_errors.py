"""Exceptions raised by :mod:`gpuparams.emulator` (all are :class:`EmulatorError`, a RuntimeError)."""
from __future__ import annotations

__all__ = ["EmulatorError", "CompileError", "KernelFault", "LaunchConfigError", "ArgumentError",
           "BarrierError"]


class EmulatorError(RuntimeError):
    """Base class of every error of the CUDA emulator."""


class CompileError(EmulatorError):
    """A kernel source did not compile with the host compiler.

    Attributes
    ----------
    filename : str
        The source file (or ``'<code>'`` for a source given as a string).
    log : str
        The compiler's messages.
    """

    def __init__(self, filename, log):
        self.filename = filename
        self.log = log
        super().__init__(f"emulator: compiling {filename} failed:\n{log}")

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

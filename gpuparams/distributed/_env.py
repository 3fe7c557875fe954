"""What the launcher told this process, read once from the environment at import.

``mpirun``/``mpiexec`` (MPICH's Hydra, Open MPI) and Slurm's ``srun`` each export the world size and
this process's rank under their own names. Only their presence is used here, to decide whether MPI
is to be started at all: outside a launcher gpuparams never imports mpi4py and the world is one
process. The rank, size and local rank themselves come from MPI once it runs.
"""
from __future__ import annotations

import os

__all__ = ["LAUNCHED_SIZE", "TIMEOUT_ENV", "BUCKET_ENV", "DEFAULT_TIMEOUT_S", "DEFAULT_BUCKET_MB",
           "timeout_from_env", "bucket_mb_from_env"]

#: (size variable, launcher) in the order they are looked at.
_SIZE_VARIABLES = (
    ("OMPI_COMM_WORLD_SIZE", "Open MPI"),
    ("PMI_SIZE", "MPICH / Hydra"),
    ("PMIX_SIZE", "PMIx"),
    ("MV2_COMM_WORLD_SIZE", "MVAPICH2"),
    ("SLURM_NTASKS", "Slurm srun"),
)

TIMEOUT_ENV = "GPUPARAMS_DIST_TIMEOUT"
BUCKET_ENV = "GPUPARAMS_DIST_BUCKET_MB"
#: Seconds a collective may wait for the slowest rank before the job is ended (the first step of a
#: job compiles kernels, which can take a while under the emulator: keep this generous).
DEFAULT_TIMEOUT_S = 300.0
#: Megabytes of gradients averaged by one collective.
DEFAULT_BUCKET_MB = 4.0


def _launched_size(environ):
    for name, _ in _SIZE_VARIABLES:
        value = environ.get(name, "").strip()
        if value.isdigit():
            return int(value)
    return 1


def _positive_float(environ, name, default):
    text = environ.get(name, "").strip()
    if not text:
        return default
    try:
        value = float(text)
    except ValueError:
        value = float("nan")
    if not value > 0 or value == float("inf"):
        raise ValueError(f"{name}={text!r} is not a positive number of "
                         f"{'seconds' if name == TIMEOUT_ENV else 'megabytes'}; unset it or fix it")
    return value


#: World size announced by a launcher (1 outside one).
LAUNCHED_SIZE = _launched_size(os.environ)
_TIMEOUT_TEXT = os.environ.get(TIMEOUT_ENV, "")
_BUCKET_TEXT = os.environ.get(BUCKET_ENV, "")


def timeout_from_env():
    """``GPUPARAMS_DIST_TIMEOUT`` (as read at import) in seconds, else the default."""
    return _positive_float({TIMEOUT_ENV: _TIMEOUT_TEXT}, TIMEOUT_ENV, DEFAULT_TIMEOUT_S)


def bucket_mb_from_env():
    """``GPUPARAMS_DIST_BUCKET_MB`` (as read at import), else the default."""
    return _positive_float({BUCKET_ENV: _BUCKET_TEXT}, BUCKET_ENV, DEFAULT_BUCKET_MB)

"""Command-line interface: ``python -m gpuparams train|bench|info`` (also the ``gpuparams`` script).

Each subcommand lives in ``gpuparams/cli/<name>.py`` and exposes ``add_arguments(parser)`` and
``run(args) -> int``; :mod:`gpuparams.__main__` imports only the module of the command that runs, so a
command whose dependencies are missing breaks only itself.

Conventions shared by the commands: errors the user can fix (a bad option value, an unreadable
file) are printed as one line, ``gpuparams <command>: error: <what and how to fix it>``, with exit code
2 and no traceback; a command may raise :class:`UsageError` from ``run`` to get exactly that.
"""
from __future__ import annotations

import argparse
from ..errors import UsageError

__all__ = ["COMMANDS", "UsageError", "OneLineErrorParser"]

#: Subcommand name -> one-line help.
COMMANDS = {
    "train": "train a model end to end (synthetic data or your own .npz/.csv)",
    "bench": "time our kernels against cuBLAS and PyTorch",
    "info": "show versions, devices and which execution paths work here",
}


class OneLineErrorParser(argparse.ArgumentParser):
    """An ``ArgumentParser`` whose errors are one line, ``PROG: error: MESSAGE (see PROG --help)``,
    with exit code 2 (argparse's default also prints the usage block)."""

    def error(self, message):
        self.exit(2, f"{self.prog}: error: {message} (see {self.prog} --help)\n")

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
import os
import re
import secrets

from ..errors import UsageError

__all__ = ["COMMANDS", "UsageError", "OneLineErrorParser", "probe_writable", "one_line"]

#: Subcommand name -> one-line help.
COMMANDS = {
    "train": "train a model end to end (synthetic data or your own .npz/.csv)",
    "bench": "time our kernels against cuBLAS and PyTorch",
    "info": "show versions, devices and which execution paths work here",
}


def one_line(text):
    """``text`` with its line breaks (and runs of spaces) as single spaces.

    The last guard of the one-line promise: a message that comes from the library (written for
    Python users, where a list over several lines reads better) still prints as one line.
    """
    # An OSError's str() starts with "[Errno 13] ", an internal code next to a message that already
    # says it in words ("cannot read m.npz: permission denied"); the user gets the words only.
    return " ".join(_ERRNO.sub("", str(text)).split())


_ERRNO = re.compile(r"\[Errno -?\d+\] ")


class OneLineErrorParser(argparse.ArgumentParser):
    """An ``ArgumentParser`` whose errors are one line, ``PROG: error: MESSAGE (see PROG --help)``,
    with exit code 2 (argparse's default also prints the usage block)."""

    def error(self, message):
        self.exit(2, f"{self.prog}: error: {message} (see {self.prog} --help)\n")


def probe_writable(folder):
    """Why files cannot be written in ``folder`` (text), or None when they can.

    Creating and removing a probe file is the test that counts (permission bits say nothing about
    read-only mounts, ACLs or a root user). A folder that does not exist yet is judged by its
    nearest existing parent, where it would be created; nothing is left behind either way.
    """
    folder = os.path.abspath(os.fspath(folder))
    target = folder
    while not os.path.exists(target):
        parent = os.path.dirname(target)
        if parent == target:
            break
        target = parent
    if not os.path.isdir(target):
        return f"{target} is a file, not a folder"
    probe = os.path.join(target, f".gpuparams-probe-{os.getpid()}-{secrets.token_hex(4)}")
    try:
        fd = os.open(probe, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    except OSError as exc:
        return f"cannot write in {target} ({exc.strerror or exc})"
    os.close(fd)
    os.unlink(probe)
    return None

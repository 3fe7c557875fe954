"""``python -m gpuparams COMMAND`` and the ``gpuparams`` console script.

Commands: ``train`` (train a model end to end), ``bench`` (benchmarks), ``info`` (this machine). Each
is imported only when it runs (see :mod:`gpuparams.cli`).
"""
from __future__ import annotations

import importlib
import os
import sys

from .cli import COMMANDS, OneLineErrorParser, UsageError, one_line

__all__ = ["main"]


def _command_index(argv):
    """Position of the subcommand in ``argv`` (the first argument not starting with '-'), or None."""
    for i, arg in enumerate(argv):
        if not arg.startswith("-"):
            return i
    return None


def main(argv=None):
    """Parse ``argv`` (default ``sys.argv[1:]``), run the chosen command, return its exit code.

    Exit codes: the command's own (0 success); 2 for bad arguments, a command that cannot be
    loaded, and file-system or out-of-memory errors (each one line, no traceback); 130 when
    interrupted with Ctrl-C.
    """
    from . import __version__

    argv = list(sys.argv[1:] if argv is None else argv)
    parser = OneLineErrorParser(prog="gpuparams",
                                description="gpuparams: a GPU-first deep-learning framework with the "
                                            "Gluon programming model.")
    parser.add_argument("--version", action="version", version=f"gpuparams {__version__}")
    subparsers = parser.add_subparsers(dest="command", metavar="COMMAND")
    commands = {name: subparsers.add_parser(name, help=text, description=text)
                for name, text in COMMANDS.items()}
    at = _command_index(argv)
    name = argv[at] if at is not None else None
    module = None
    if name in commands:
        try:
            module = importlib.import_module(f"gpuparams.cli.{name}")
        except ImportError as exc:
            print(f"gpuparams {name}: error: this command cannot be loaded ({one_line(exc)})",
                  file=sys.stderr)
            return 2
        module.add_arguments(commands[name])
    args, extra = parser.parse_known_args(argv)
    if extra:
        (commands[name] if module is not None else parser).error(
            f"unrecognized arguments: {' '.join(extra)}")
    if module is None:
        parser.print_help(sys.stderr)
        return 2
    args._argv = argv[at + 1:]
    try:
        return int(module.run(args) or 0)
    except UsageError as exc:
        print(f"gpuparams {name}: error: {one_line(exc)}", file=sys.stderr)
        return 2
    except MemoryError as exc:
        # Whatever the up-front estimates missed still ends in one line, not a traceback.
        detail = str(exc).splitlines()[0] if str(exc) else "no detail"
        print(f"gpuparams {name}: error: out of memory ({detail}); use a smaller model, batch or "
              "data set", file=sys.stderr)
        return 2
    except BrokenPipeError:
        # The reader went away (e.g. `| head`): stop quietly, and keep Python from complaining
        # again while it flushes stdout at exit.
        try:
            sys.stdout = open(os.devnull, "w")
        except OSError:
            pass
        return 141
    except OSError as exc:
        # File-system trouble after the up-front checks (a full disk, a folder removed meanwhile):
        # our file errors already name the user's path.
        print(f"gpuparams {name}: error: {one_line(exc)}", file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        print(f"gpuparams {name}: interrupted", file=sys.stderr)
        return 130


if __name__ == "__main__":
    sys.exit(main())

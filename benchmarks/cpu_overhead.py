#!/usr/bin/env python3
"""Issue 2's CPU benchmark: time per recorded op on 16x16 arrays (add, mul, dot, relu; forward and
backward under ``autograd.record()``) next to raw NumPy and PyTorch CPU autograd, in the same run.

The rows of ``python -m gpuparams bench --suite cpu`` whose name starts with "overhead"; ratio = baseline
time / gpuparams time. Extra options are passed on (e.g. ``--quick``, ``--no-write``).
"""
import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from gpuparams.cli.bench import main

if __name__ == "__main__":
    sys.exit(main(["--suite", "cpu", "--filter", "^overhead "] + sys.argv[1:]))

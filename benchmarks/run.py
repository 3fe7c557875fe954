#!/usr/bin/env python3
"""Run the gpuparams benchmark suites from a checkout: the same as ``python -m gpuparams bench``.

    python benchmarks/run.py --suite kernels
    python benchmarks/run.py --list

See benchmarks/README.md for the suites, the options and how to read the output.
"""
import sys
from pathlib import Path

# Run the checkout this script belongs to, not whatever gpuparams happens to be installed.
sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from gpuparams.cli.bench import main

if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))

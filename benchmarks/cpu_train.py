#!/usr/bin/env python3
"""Issue 4's CPU benchmark: an SGD training step of an MLP 784-256-256-10 at batch 128 on cpu(0) vs
PyTorch CPU with the same thread count (interleaved), and the linear-regression chapter (1000 examples,
2 features, batch 10, Dense(1), L2Loss, sgd lr 0.03, 3 epochs) vs PyTorch CPU and vs MXNet (reported as
skipped where MXNet is not installed).

The matching rows of ``python -m gpuparams bench --suite cpu``. Extra options are passed on
(``--threads N`` sets PyTorch's thread count; NumPy's BLAS follows OPENBLAS_NUM_THREADS / OMP_NUM_THREADS).
"""
import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from gpuparams.cli.bench import main

if __name__ == "__main__":
    sys.exit(main(["--suite", "cpu", "--filter", "^(mlp train step|linreg chapter)"] + sys.argv[1:]))

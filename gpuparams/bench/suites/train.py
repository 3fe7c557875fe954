"""Suite ``train``: a whole training step on the GPU vs PyTorch eager.

A step is forward, softmax cross-entropy, backward and SGD (``trainer.step``), timed as one call:

* MLP 784-256-256-10 at batch 128 (the MNIST-sized model of the tutorials);
* 4×1024: input 1024, four Dense(1024, relu) layers and a Dense(10) output, at batch 256 and 2048.

Both timing modes are reported: ``pipelined`` (steps back to back, host-timed: what a training loop
sees, Python dispatch included) and ``kernel`` (CUDA events around one step after an L2 flush).
"""
from __future__ import annotations

from ._models import mlp_case

DEVICE = "gpu"
DESCRIPTION = "full training step (forward, softmax-CE, backward, SGD) vs PyTorch eager"

#: (name, layer sizes, batch)
MODELS = (
    ("mlp train step", (784, 256, 256, 10), 128),
    ("4x1024 train step", (1024, 1024, 1024, 1024, 1024, 10), 256),
    ("4x1024 train step", (1024, 1024, 1024, 1024, 1024, 10), 2048),
)


def cases(env):
    """The suite's cases for ``env`` (models from ``env.shapes['train']`` when given)."""
    modes = ("pipelined", "kernel") if env.kind == "gpu" else ("host",)
    return [mlp_case(env, "train", name, sizes, batch, modes=modes)
            for name, sizes, batch in env.shapes.get("train", MODELS)]

"""Suite ``train``: a whole training step on the GPU vs PyTorch eager.

A step is forward, softmax cross-entropy, backward and SGD (``trainer.step``), timed as one call:

* MLP 784-256-256-10 at batch 128 (the MNIST-sized model of the tutorials);
* 4×1024: input 1024, four Dense(1024, relu) layers and a Dense(10) output, at batch 256 and 2048.

Each model also has a hybridized step (vs the imperative one) and an inference row whose kernel
launches are captured as one graph (vs the uncaptured replay). Capturing a whole training step is not
there yet, so there is no captured-step row and no ``torch.cuda.graph`` baseline yet.

Both timing modes are reported: ``pipelined`` (steps back to back, host-timed: what a training loop
sees, Python dispatch included) and ``kernel`` (CUDA events around one step after an L2 flush).
"""
from __future__ import annotations

from ._models import forward_case, mlp_case

DEVICE = "gpu"
DESCRIPTION = "full training step (forward, softmax-CE, backward, SGD) vs PyTorch eager"

#: (name, layer sizes, batch)
MODELS = (
    ("mlp train step", (784, 256, 256, 10), 128),
    ("4x1024 train step", (1024, 1024, 1024, 1024, 1024, 10), 256),
    ("4x1024 train step", (1024, 1024, 1024, 1024, 1024, 10), 2048),
)


def cases(env):
    """The suite's cases for ``env`` (models from ``env.shapes['train']`` when given): per model the
    imperative step vs PyTorch eager, the hybridized step vs the imperative one, and the forward
    captured as one graph vs the uncaptured replay (issue 11)."""
    modes = ("pipelined", "kernel") if env.kind == "gpu" else ("host",)
    out = []
    for name, sizes, batch in env.shapes.get("train", MODELS):
        out.append(mlp_case(env, "train", name, sizes, batch, modes=modes))
        out.append(mlp_case(env, "train", name + " hybridized", sizes, batch, modes=modes, hybridize=True,
                            baseline="imperative"))
        out.append(forward_case(env, "train", name.replace("train step", "forward") + " captured", sizes,
                                batch, modes=modes))
    return out

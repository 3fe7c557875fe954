"""Suite ``train``: a whole training step on the GPU vs PyTorch eager.

A step is forward, softmax cross-entropy, backward and SGD (``trainer.step``), timed as one call:

* MLP 784-256-256-10 at batch 128 (the MNIST-sized model of the tutorials);
* 4×1024: input 1024, four Dense(1024, relu) layers and a Dense(10) output, at batch 256 and 2048.

Per model the rows are: the imperative step vs PyTorch eager; the hybridized step (the uncaptured
replay) vs the imperative one; the **captured step** (``gp.graph.step``: forward, loss, backward and
the SGD update as one graph, launched with one call) vs the uncaptured hybridized replay, vs PyTorch
eager and vs PyTorch's own whole-step ``torch.cuda.graph`` (skipped, with the reason, where PyTorch
has no CUDA); and an inference row whose kernel launches are captured as one graph (vs the
uncaptured replay). Targets on an H100/H200 (issue 11): the captured small-MLP step at least 4x
PyTorch eager and at least 1x ``torch.cuda.graph``.

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
    imperative step vs PyTorch eager, the hybridized step vs the imperative one, the captured step
    vs the uncaptured replay, PyTorch eager and ``torch.cuda.graph``, and the forward captured as one
    graph vs the uncaptured replay (issue 11)."""
    modes = ("pipelined", "kernel") if env.kind == "gpu" else ("host",)
    out = []
    for name, sizes, batch in env.shapes.get("train", MODELS):
        out.append(mlp_case(env, "train", name, sizes, batch, modes=modes))
        out.append(mlp_case(env, "train", name + " hybridized", sizes, batch, modes=modes, hybridize=True,
                            baseline="imperative"))
        for baseline in ("hybridized", "torch", "torch_graph"):
            out.append(mlp_case(env, "train", name + " captured", sizes, batch, modes=modes, captured=True,
                                baseline=baseline))
        out.append(forward_case(env, "train", name.replace("train step", "forward") + " captured", sizes,
                                batch, modes=modes))
    return out

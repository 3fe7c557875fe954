"""CPU vs GPU parity: the same seed gives identical initial weights, and five SGD steps of a small MLP
give the same losses within 1e-4 relative (DESIGN.md §1, issue 6). The GPU side is the emulated gpu(0)
in CI (our kernels run in the CPU emulator) and the real gpu(0) where one is present."""
import numpy as np
import pytest

import gpuparams as gp
from gpuparams import autograd, backend, gluon, init, nd
from gpuparams.gluon import loss as gloss, nn

# Every test here runs under both front ends: nd, and np after npx.set_np() (tests/conftest.py).
pytestmark = pytest.mark.usefixtures("front_end")


GPU_KINDS = [
    pytest.param("emulated", id="gpu0-emulated"),
    pytest.param("gpu", id="gpu0", marks=pytest.mark.gpu),
]


def _train_five_steps(ctx, optimizer, optimizer_params):
    gp.random.seed(2024)
    rng = np.random.default_rng(7)
    X = rng.normal(size=(40, 13)).astype(np.float32)          # 13: not a multiple of 4
    y = rng.integers(0, 5, size=40).astype(np.float32)
    with nn.NameManager():
        net = nn.Sequential()
        net.add(nn.Dense(33, activation="relu"), nn.Dense(17, activation="relu"), nn.Dense(5))
    net.initialize(init.Xavier(), ctx=ctx)
    loss_fn = gloss.SoftmaxCrossEntropyLoss()
    trainer = gluon.Trainer(net.collect_params(), optimizer, optimizer_params)
    xs, ys = nd.array(X, ctx=ctx), nd.array(y, ctx=ctx)
    losses, initial = [], None
    for step in range(5):
        batch = slice(8 * step, 8 * step + 8)
        with autograd.record():
            loss = loss_fn(net(xs[batch]), ys[batch])
        loss.backward()
        if initial is None:
            initial = {name: p.data().asnumpy() for name, p in net.collect_params().items()}
        trainer.step(8)
        losses.append(float(loss.mean().asscalar()))
    final = {name: p.data().asnumpy() for name, p in net.collect_params().items()}
    return losses, initial, final


@pytest.mark.parametrize("kind", GPU_KINDS)
@pytest.mark.parametrize("optimizer,params", [
    ("sgd", {"learning_rate": 0.1, "momentum": 0.9, "wd": 1e-4}),
    ("adam", {"learning_rate": 0.01}),
])
def test_cpu_and_gpu_train_alike(kind, optimizer, params):
    with backend.emulation(False):
        cpu_losses, cpu_init, cpu_final = _train_five_steps(gp.cpu(0), optimizer, params)
    with backend.emulation(kind == "emulated"):
        gpu_losses, gpu_init, gpu_final = _train_five_steps(gp.gpu(0), optimizer, params)
    assert sorted(cpu_init) == sorted(gpu_init)
    for name in cpu_init:
        # Initializers draw on the host from one seeded generator: bit-identical everywhere.
        np.testing.assert_array_equal(cpu_init[name], gpu_init[name], err_msg=name)
    np.testing.assert_allclose(gpu_losses, cpu_losses, rtol=1e-4)
    assert cpu_losses[-1] != cpu_losses[0]  # the steps changed something
    for name in cpu_final:
        np.testing.assert_allclose(gpu_final[name], cpu_final[name], rtol=1e-3, atol=1e-5, err_msg=name)

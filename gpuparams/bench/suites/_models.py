"""Training-step benchmarks shared by the ``train`` (GPU) and ``cpu`` suites.

Each model exists three times: in gpuparams (the Gluon API of DESIGN.md §2), in PyTorch eager, and as
a float64 NumPy reference of one step. The gate starts both frameworks from the same weights, runs one
step, and compares the per-example loss and the parameter *updates* (new minus old weights, which is
where a wrong gradient or optimizer shows) with the reference.
"""
from __future__ import annotations

import math

import numpy as np

from ..harness import Bound, Case, SkipCase
from ._common import free_memory, require_framework, require_torch

__all__ = ["mlp_case", "forward_case", "init_mlp_weights", "reference_mlp_step", "mlp_step_work",
           "linreg_data", "reference_linreg", "linreg_chapter", "linreg_case"]


# ---------------------------------------------------------------------------------------------------
# MLP step: forward, softmax cross-entropy, backward, SGD


def init_mlp_weights(sizes, rng):
    """Float32 ``[(W (out, in), b (out,)), ...]`` with Xavier-uniform weights and small biases."""
    layers = []
    for fan_in, fan_out in zip(sizes[:-1], sizes[1:]):
        bound = math.sqrt(6.0 / (fan_in + fan_out))
        w = rng.uniform(-bound, bound, (fan_out, fan_in)).astype(np.float32)
        b = rng.uniform(-0.1, 0.1, (fan_out,)).astype(np.float32)
        layers.append((w, b))
    return layers


def reference_mlp_step(weights, x, labels, lr):
    """One SGD step of a ReLU MLP with softmax cross-entropy, in float64.

    Parameters
    ----------
    weights : list of (W, b)
    x : (N, in) array
    labels : (N,) int array
    lr : float
        Learning rate; the gradient is the mean over the batch (Gluon's ``trainer.step(N)`` after
        ``loss.backward()`` on per-example losses, PyTorch's ``loss.mean().backward()``).

    Returns
    -------
    dict
        ``{"loss": (N,) per-example loss, "updates": [(dW, db), ...]}`` where ``dW = -lr * grad``.
    """
    x = np.asarray(x, np.float64)
    n = x.shape[0]
    acts = [x]
    pre = []
    h = x
    for i, (w, b) in enumerate(weights):
        z = h @ np.asarray(w, np.float64).T + np.asarray(b, np.float64)
        pre.append(z)
        h = np.maximum(z, 0) if i < len(weights) - 1 else z
        acts.append(h)
    logits = acts[-1]
    shifted = logits - logits.max(axis=1, keepdims=True)
    log_p = shifted - np.log(np.exp(shifted).sum(axis=1, keepdims=True))
    rows = np.arange(n)
    labels = np.asarray(labels).astype(np.int64)
    loss = -log_p[rows, labels]
    dz = np.exp(log_p)
    dz[rows, labels] -= 1.0
    dz /= n
    updates = [None] * len(weights)
    for i in range(len(weights) - 1, -1, -1):
        w = np.asarray(weights[i][0], np.float64)
        updates[i] = (-lr * (dz.T @ acts[i]), -lr * dz.sum(axis=0))
        if i:
            dz = (dz @ w) * (pre[i - 1] > 0)
    return {"loss": loss, "updates": updates}


def mlp_step_work(sizes, batch):
    """FLOPs of one training step and its roofline terms ``[(flops, bytes), ...]``.

    Per layer (in → out, batch N): forward 2·N·in·out, dW 2·N·in·out, dX 2·N·in·out (not for the first
    layer, whose input needs no gradient), and an SGD update reading W and dW and writing W.
    """
    terms = []
    total = 0.0
    for i, (fan_in, fan_out) in enumerate(zip(sizes[:-1], sizes[1:])):
        gemm = 2.0 * batch * fan_in * fan_out
        io = 4.0 * (batch * fan_in + fan_in * fan_out + batch * fan_out)
        terms.append((gemm, io))                 # forward
        terms.append((gemm, io))                 # dW
        total += 2 * gemm
        if i:
            terms.append((gemm, io))             # dX
            total += gemm
        params = fan_out * (fan_in + 1)
        terms.append((2.0 * params, 12.0 * params))   # SGD: w -= lr * g
        total += 2.0 * params
    return total, terms


def _mlp_data(env, sizes, batch):
    rng = env.rng(*sizes, batch)
    x = rng.random((batch, sizes[0]), dtype=np.float32)
    labels = rng.integers(0, sizes[-1], size=batch)
    return x, labels, init_mlp_weights(sizes, rng)


def _gluon_mlp(env, sizes, batch, lr, x_host, labels_host, weights0, hybridize=False, captured=False):
    """gpuparams' step: imperative, hybridized (the uncaptured replay), or ``captured`` (the whole
    step as one graph, ``gp.graph.step`` on a net hybridized with static_alloc and static_shape)."""
    gp = require_framework("nd.array", "autograd.record", "gluon.nn.Dense", "gluon.nn.Sequential",
                           "gluon.loss.SoftmaxCrossEntropyLoss", "gluon.Trainer",
                           *(("graph.step",) if captured else ()))
    nd, autograd, gluon = gp.nd, gp.autograd, gp.gluon
    ctx = env.ctx
    net = gluon.nn.HybridSequential() if hybridize or captured else gluon.nn.Sequential()
    for i, (fan_in, fan_out) in enumerate(zip(sizes[:-1], sizes[1:])):
        net.add(gluon.nn.Dense(fan_out, activation="relu" if i < len(sizes) - 2 else None,
                               in_units=fan_in))
    net.initialize(ctx=ctx)
    if captured:
        net.hybridize(static_alloc=True, static_shape=True)
    elif hybridize:
        net.hybridize()
    loss_fn = gluon.loss.SoftmaxCrossEntropyLoss()
    trainer = gluon.Trainer(net.collect_params(), "sgd", {"learning_rate": lr})
    x = nd.array(x_host, ctx=ctx)
    y = nd.array(labels_host.astype(np.float32), ctx=ctx)   # Gluon convention: float class indices
    layers = [net[i] for i in range(len(sizes) - 1)]

    def set_weights(weights):
        for layer, (w, b) in zip(layers, weights):
            layer.weight.set_data(nd.array(w, ctx=ctx))
            layer.bias.set_data(nd.array(b, ctx=ctx))

    def get_weights():
        return [(layer.weight.data(ctx).asnumpy(), layer.bias.data(ctx).asnumpy()) for layer in layers]

    def step():
        with autograd.record():
            loss = loss_fn(net(x), y)
        loss.backward()
        trainer.step(batch)
        return loss

    if captured:
        step = _captured_step(gp, net, loss_fn, trainer, batch, x, y, set_weights, weights0)
    set_weights(weights0)
    return step, set_weights, get_weights


def _captured_step(gp, net, loss_fn, trainer, batch, x, y, set_weights, weights0):
    """``gp.graph.step`` made to capture before anything is timed (the first call traces, the second
    captures and checks the graph against the uncaptured step); a fallback is a skip, never a row
    timed under the captured label. The weights are reset afterwards (set_data writes in place, so
    the graph stays)."""
    import warnings
    run = gp.graph.step(net, loss_fn, trainer, batch_size=batch)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", gp.errors.CaptureFallbackWarning)
        for _ in range(3):
            run(x, y)
    info = run.cache_info()
    if not run.captured or info["captures"] != 1:
        raise SkipCase(f"the training step could not be captured: {info['capture_failed']}")
    set_weights(weights0)
    return lambda: run(x, y)


def _torch_mlp(env, sizes, lr, x_host, labels_host, weights0):
    torch = require_torch(env)
    device = env.torch_device
    modules = []
    for i, (fan_in, fan_out) in enumerate(zip(sizes[:-1], sizes[1:])):
        modules.append(torch.nn.Linear(fan_in, fan_out))
        if i < len(sizes) - 2:
            modules.append(torch.nn.ReLU())
    model = torch.nn.Sequential(*modules).to(device)
    linears = [m for m in model if isinstance(m, torch.nn.Linear)]
    optimizer = torch.optim.SGD(model.parameters(), lr=lr)
    x = torch.from_numpy(x_host).to(device)
    y = torch.from_numpy(labels_host.astype(np.int64)).to(device)
    cross_entropy = torch.nn.functional.cross_entropy

    def set_weights(weights):
        with torch.no_grad():
            for layer, (w, b) in zip(linears, weights):
                layer.weight.copy_(torch.from_numpy(w))
                layer.bias.copy_(torch.from_numpy(b))

    def get_weights():
        return [(layer.weight.detach().cpu().numpy().copy(), layer.bias.detach().cpu().numpy().copy())
                for layer in linears]

    def step():
        optimizer.zero_grad(set_to_none=True)
        loss = cross_entropy(model(x), y, reduction="none")
        loss.mean().backward()
        optimizer.step()
        return loss

    set_weights(weights0)
    return step, set_weights, get_weights


def _torch_graphed_mlp(env, sizes, lr, x_host, labels_host, weights0):
    """The PyTorch step captured whole with ``torch.cuda.graph`` (PyTorch's documented recipe:
    static input tensors, warm-up iterations on a side stream, then forward, backward and
    ``optimizer.step()`` captured and replayed)."""
    torch = require_torch(env)
    if not env.torch_device.startswith("cuda"):
        raise SkipCase("torch.cuda.graph needs a CUDA device; PyTorch runs on the CPU in this run")
    step_eager, set_weights, get_weights = _torch_mlp(env, sizes, lr, x_host, labels_host, weights0)
    side = torch.cuda.Stream()
    side.wait_stream(torch.cuda.current_stream())
    with torch.cuda.stream(side):
        for _ in range(3):
            step_eager()
    torch.cuda.current_stream().wait_stream(side)
    graph = torch.cuda.CUDAGraph()
    # The eager step starts with zero_grad(set_to_none=True), a host-side reset: inside the capture
    # it leaves the gradients None, so the captured backward allocates them from the graph's private
    # pool and every replay writes (not accumulates) into those static buffers, as in PyTorch's
    # whole-network capture example.
    with torch.cuda.graph(graph):
        static_loss = step_eager()
    set_weights(weights0)

    def step():
        graph.replay()
        return static_loss
    return step, set_weights, get_weights


def _numpy_mlp(sizes, lr, x_host, labels_host, weights0):
    """The same step written by hand in float32 NumPy (no framework): the floor for the CPU rows."""
    x = np.asarray(x_host, np.float32)
    labels = np.asarray(labels_host).astype(np.int64)
    n = x.shape[0]
    rows = np.arange(n)
    layers = [[w.copy(), b.copy()] for w, b in weights0]
    lr32 = np.float32(lr)

    def set_weights(weights):
        for layer, (w, b) in zip(layers, weights):
            layer[0][...] = w
            layer[1][...] = b

    def get_weights():
        return [(w.copy(), b.copy()) for w, b in layers]

    def step():
        acts = [x]
        h = x
        last = len(layers) - 1
        for i, (w, b) in enumerate(layers):
            h = h @ w.T + b
            if i < last:
                h = np.maximum(h, 0)
            acts.append(h)
        shifted = h - h.max(axis=1, keepdims=True)
        log_p = shifted - np.log(np.exp(shifted).sum(axis=1, keepdims=True))
        loss = -log_p[rows, labels]
        dz = np.exp(log_p)
        dz[rows, labels] -= 1
        dz /= n
        for i in range(last, -1, -1):
            w, b = layers[i]
            dw = dz.T @ acts[i]
            db = dz.sum(axis=0)
            if i:
                dz = (dz @ w) * (acts[i] > 0)
            w -= lr32 * dw
            b -= lr32 * db
        return loss

    set_weights(weights0)
    return step, set_weights, get_weights


def _checked_step(step, set_weights, get_weights, weights0):
    """Reset to the gate's starting weights, run one step, return loss and updates (float64)."""
    def check():
        set_weights(weights0)
        loss = step()
        after = get_weights()
        updates = [(np.asarray(w1, np.float64) - np.asarray(w0, np.float64),
                    np.asarray(b1, np.float64) - np.asarray(b0, np.float64))
                   for (w1, b1), (w0, b0) in zip(after, weights0)]
        return {"loss": loss, "updates": updates}
    return check


def mlp_case(env, suite, name, sizes, batch, lr=0.1, modes=("kernel", "pipelined"), hybridize=False,
             baseline="torch", captured=False):
    """A full training step of an MLP (``sizes``, e.g. ``(784, 256, 256, 10)``) vs a baseline.

    ``hybridize`` runs gpuparams' network hybridized; ``captured`` runs the whole step as one graph
    (``gp.graph.step``). ``baseline`` is ``"torch"`` (PyTorch eager), ``"torch_graph"`` (the PyTorch
    step captured with ``torch.cuda.graph``; skipped without CUDA), ``"numpy"`` (the step written by
    hand in NumPy), ``"imperative"`` (gpuparams not hybridized) or ``"hybridized"`` (gpuparams
    hybridized, the uncaptured replay).
    """
    sizes = tuple(int(s) for s in sizes)

    def build():
        x, labels, weights0 = _mlp_data(env, sizes, batch)
        ours = _gluon_mlp(env, sizes, batch, lr, x, labels, weights0, hybridize=hybridize,
                          captured=captured)
        missing = None
        if baseline == "numpy":
            theirs = _numpy_mlp(sizes, lr, x, labels, weights0)
        elif baseline in ("imperative", "hybridized"):
            theirs = _gluon_mlp(env, sizes, batch, lr, x, labels, weights0,
                                hybridize=baseline == "hybridized")
        else:
            make = _torch_graphed_mlp if baseline == "torch_graph" else _torch_mlp
            try:
                theirs = make(env, sizes, lr, x, labels, weights0)
            except SkipCase as exc:
                theirs, missing = None, str(exc)

        def reference():
            return reference_mlp_step(weights0, x, labels, lr)
        return Bound(ours[0], theirs[0] if theirs else None, reference,
                     check_gpuparams=_checked_step(*ours, weights0),
                     check_baseline=_checked_step(*theirs, weights0) if theirs else None,
                     close=lambda: free_memory(env), baseline_skipped=missing)

    flops, terms = mlp_step_work(sizes, batch)
    shape = f"{'-'.join(map(str, sizes))} batch {batch}"
    label = {"numpy": "numpy (hand-written step)", "imperative": "gpuparams imperative",
             "hybridized": "gpuparams hybridized (uncaptured)", "torch_graph": "torch.cuda.graph"}.get(
        baseline, "torch eager" + (" (cpu)" if env.torch_device == "cpu" else ""))
    threads = f"; {env.threads} threads on both sides" if env.kind == "cpu" and env.threads else ""
    return Case(suite, name, shape, label, build, flops=flops,
                bytes=sum(b for _, b in terms), terms=terms, modes=modes,
                note=f"forward, softmax-CE, backward, SGD lr={lr}{threads}")


def forward_case(env, suite, name, sizes, batch, modes=("kernel", "pipelined")):
    """Inference of a ReLU MLP, hybridized with ``static_alloc=True, static_shape=True`` (its kernel
    launches captured as one graph) vs the same block hybridized without (the uncaptured replay)."""
    sizes = tuple(int(s) for s in sizes)

    def build():
        gp = require_framework("nd.array", "gluon.nn.HybridSequential", "graph.cache_info")
        x_host, _, weights0 = _mlp_data(env, sizes, batch)
        ctx = env.ctx
        x = gp.nd.array(x_host, ctx=ctx)

        def make(captured):
            net = gp.gluon.nn.HybridSequential()
            for i, (fan_in, fan_out) in enumerate(zip(sizes[:-1], sizes[1:])):
                net.add(gp.gluon.nn.Dense(fan_out, activation="relu" if i < len(sizes) - 2 else None,
                                          in_units=fan_in))
            net.initialize(ctx=ctx)
            for layer, (w, b) in zip(net, weights0):
                layer.weight.set_data(gp.nd.array(w, ctx=ctx))
                layer.bias.set_data(gp.nd.array(b, ctx=ctx))
            net.hybridize(static_alloc=captured, static_shape=captured)
            net(x)  # trace
            net(x)  # capture (or replay)
            info = gp.graph.cache_info(net)
            if captured and info["captures"] != 1:  # never time a fallback under the captured label
                raise SkipCase(f"the forward could not be captured: {info['capture_failed']}")
            return lambda: net(x).asnumpy()

        def reference():
            h = np.asarray(x_host, np.float64)
            for i, (w, b) in enumerate(weights0):
                h = h @ np.asarray(w, np.float64).T + b
                if i < len(weights0) - 1:
                    h = np.maximum(h, 0)
            return h
        return Bound(make(True), make(False), reference, close=lambda: free_memory(env))

    flops = sum(2.0 * batch * a * b for a, b in zip(sizes[:-1], sizes[1:]))
    return Case(suite, name, f"{'-'.join(map(str, sizes))} batch {batch}", "uncaptured replay", build,
                flops=flops, bytes=0.0, modes=modes,
                note="hybridize(static_alloc, static_shape): launches captured once, replayed")


# ---------------------------------------------------------------------------------------------------
# The linear-regression chapter (Dive into Deep Learning, MXNet edition, "concise" version)

TRUE_W = (2.0, -3.4)
TRUE_B = 4.2


def linreg_data(seed=0, examples=1000):
    """The chapter's synthetic data: ``y = X·[2, -3.4] + 4.2 + noise(0.01)``, float32, labels (N,)."""
    rng = np.random.default_rng([seed, 1000])
    features = rng.normal(0, 1, (examples, len(TRUE_W))).astype(np.float32)
    labels = features @ np.asarray(TRUE_W, np.float32) + np.float32(TRUE_B)
    labels = (labels + rng.normal(0, 0.01, labels.shape)).astype(np.float32)
    w0 = rng.normal(0, 0.01, (1, len(TRUE_W))).astype(np.float32)  # init.Normal(sigma=0.01)
    b0 = np.zeros((1,), np.float32)
    return features, labels, w0, b0


def reference_linreg(features, labels, w0, b0, epochs=3, batch=10, lr=0.03):
    """Float64 minibatch SGD on ``0.5 * (Xw + b - y)^2`` in data order.

    Returns ``{"w", "b", "epoch_loss"}``: final weights and the mean loss on all data after each epoch.
    """
    x = np.asarray(features, np.float64)
    y = np.asarray(labels, np.float64)
    w = np.asarray(w0, np.float64).reshape(-1).copy()
    b = float(np.asarray(b0, np.float64).reshape(-1)[0])
    losses = []
    for _ in range(epochs):
        for start in range(0, len(x), batch):
            xb, yb = x[start:start + batch], y[start:start + batch]
            err = xb @ w + b - yb
            w -= lr * (xb.T @ err) / len(xb)
            b -= lr * err.sum() / len(xb)
        losses.append(np.mean(0.5 * (x @ w + b - y) ** 2))
    return {"w": w.reshape(1, -1), "b": np.array([b]), "epoch_loss": np.array(losses)}


def linreg_chapter(nd, autograd, gluon, init, features, labels, w0, b0, epochs=3, batch=10, lr=0.03,
                   hybridize=False):
    """The chapter's training code, written once for any Gluon-1.x-compatible framework.

    ``nd, autograd, gluon, init`` are the modules of gpuparams or of MXNet; the code is the chapter's
    (ArrayDataset, DataLoader, ``Dense(1)``, ``L2Loss``, ``Trainer('sgd', lr=0.03)``, 3 epochs), except
    that the data is not shuffled and the initial weights are set to ``w0, b0`` after the first forward
    (which completes deferred initialisation), so the result can be checked against a reference.
    ``hybridize=True`` adds the chapter's optional ``net.hybridize()``.
    """
    dataset = gluon.data.ArrayDataset(nd.array(features), nd.array(labels))
    loader = gluon.data.DataLoader(dataset, batch, shuffle=False)
    net = gluon.nn.Sequential()
    net.add(gluon.nn.Dense(1))
    net.initialize(init.Normal(sigma=0.01))
    if hybridize:
        net.hybridize()
    loss = gluon.loss.L2Loss()
    trainer = gluon.Trainer(net.collect_params(), "sgd", {"learning_rate": lr})
    all_x, all_y = nd.array(features), nd.array(labels)
    net(all_x[0:1])
    net[0].weight.set_data(nd.array(w0))
    net[0].bias.set_data(nd.array(b0))
    epoch_loss = []
    for _ in range(epochs):
        for x, y in loader:
            with autograd.record():
                batch_loss = loss(net(x), y)
            batch_loss.backward()
            trainer.step(batch)
        epoch_loss.append(loss(net(all_x), all_y).mean().asscalar())
    return {"w": net[0].weight.data(), "b": net[0].bias.data(), "epoch_loss": np.array(epoch_loss)}


def _torch_linreg(torch, features, labels, w0, b0, epochs=3, batch=10, lr=0.03):
    data = torch.utils.data
    fx, fy = torch.from_numpy(features), torch.from_numpy(labels)
    loader = data.DataLoader(data.TensorDataset(fx, fy), batch_size=batch, shuffle=False)
    net = torch.nn.Linear(len(TRUE_W), 1)
    with torch.no_grad():
        net.weight.copy_(torch.from_numpy(w0))
        net.bias.copy_(torch.from_numpy(b0))
    optimizer = torch.optim.SGD(net.parameters(), lr=lr)
    epoch_loss = []
    for _ in range(epochs):
        for x, y in loader:
            batch_loss = 0.5 * (net(x).reshape(y.shape) - y) ** 2
            optimizer.zero_grad(set_to_none=True)
            batch_loss.mean().backward()
            optimizer.step()
        with torch.no_grad():
            epoch_loss.append(float((0.5 * (net(fx).reshape(fy.shape) - fy) ** 2).mean()))
    return {"w": net.weight, "b": net.bias, "epoch_loss": np.array(epoch_loss)}


def linreg_case(env, baseline, hybridize=False):
    """The chapter's 3 epochs vs PyTorch CPU (``baseline="torch"``), MXNet (``"mxnet"``) or gpuparams
    itself not hybridized (``"imperative"``, with ``hybridize=True`` for ours)."""
    epochs, batch, lr = 3, 10, 0.03
    label = {"torch": "torch eager (cpu)", "mxnet": "mxnet gluon",
             "imperative": "gpuparams imperative"}[baseline]

    def build():
        if baseline == "mxnet":
            try:
                import mxnet  # noqa: WPS433 (optional baseline)
            except Exception as exc:
                raise SkipCase(f"MXNet is not installed ({type(exc).__name__}), so there is no "
                               f"MXNet baseline for the linear-regression chapter") from None
        gp = require_framework("nd.array", "autograd.record", "gluon.nn.Dense", "gluon.loss.L2Loss",
                               "gluon.data.ArrayDataset", "gluon.data.DataLoader", "gluon.Trainer",
                               "init.Normal")
        features, labels, w0, b0 = linreg_data(env.seed)
        missing = None
        if baseline == "mxnet":
            mx_modules = (mxnet.nd, mxnet.autograd, mxnet.gluon, mxnet.init)

            def theirs():
                return linreg_chapter(*mx_modules, features, labels, w0, b0, epochs, batch, lr)
        elif baseline == "imperative":
            def theirs():
                return linreg_chapter(gp.nd, gp.autograd, gp.gluon, gp.init, features, labels, w0, b0,
                                      epochs, batch, lr)
        else:
            try:
                torch = require_torch(env)
            except SkipCase as exc:
                theirs, missing = None, str(exc)
            else:
                def theirs():
                    return _torch_linreg(torch, features, labels, w0, b0, epochs, batch, lr)

        def ours():
            return linreg_chapter(gp.nd, gp.autograd, gp.gluon, gp.init, features, labels, w0, b0,
                                  epochs, batch, lr, hybridize=hybridize)

        def reference():
            return reference_linreg(features, labels, w0, b0, epochs, batch, lr)
        return Bound(ours, theirs, reference, baseline_skipped=missing)

    steps = epochs * math.ceil(1000 / batch)
    flops = steps * (4.0 * batch * 2 + 4.0 * batch + 6) + epochs * 6.0 * 1000
    name = "linreg chapter (3 epochs)" + (" hybridized" if hybridize else "")
    return Case("cpu", name, "1000x2, batch 10, Dense(1)", label, build,
                flops=flops, bytes=0.0, modes=("host",), reps=3,
                note="L2Loss, sgd lr=0.03, no shuffle (so it can be checked); whole training run")

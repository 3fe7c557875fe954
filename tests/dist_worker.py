"""The program every rank runs in ``tests/test_distributed.py`` (under a real ``mpiexec``).

``python dist_worker.py SCENARIO OUT_DIR [cpu|gpu|device]``: each rank writes what it saw to
``OUT_DIR`` (JSON or ``.npz``, one file per rank); the test process compares the ranks with each
other and with a single-process reference computed by :func:`reference_run` in the test itself.
"""
from __future__ import annotations

import json
import os
import signal
import sys
import time

import numpy as np

import gpuparams as gp
from gpuparams import autograd, distributed as dist, gluon, nd
from gpuparams.gluon import data as gdata, nn
from gpuparams.trainer import StaleGradientError

#: Examples per rank and step (the single-process reference uses RANKS * B).
B = 4
STEPS = 5
FEATURES, HIDDEN, OUTPUTS = 5, 6, 3


def make_data(total_rows):
    rng = np.random.default_rng(7)
    X = rng.normal(size=(total_rows, FEATURES)).astype(np.float32)
    Y = rng.normal(size=(total_rows, OUTPUTS)).astype(np.float32)
    return X, Y


def build(seed, ctx, hidden=HIDDEN):
    """Deferred-shape MLP (its input width is learnt at the first forward)."""
    gp.random.seed(seed)
    net = nn.Sequential()
    net.add(nn.Dense(hidden, activation="relu"), nn.Dense(OUTPUTS))
    net.initialize(gp.init.Xavier(), ctx=ctx)
    return net


def snapshot(net):
    """Every parameter's values, keyed by position (names differ between processes); with several
    contexts, every copy (``0@1`` is parameter 0 on the second context)."""
    out = {}
    for i, p in enumerate(net.collect_params().values()):
        for k, d in enumerate(p.list_data()):
            out[str(i) if k == 0 else f"{i}@{k}"] = d.asnumpy().copy()
    return out


def loss_of(net, xb, yb):
    return ((net(xb) - yb) ** 2).sum()


def train_steps(trainer_factory, net, X, Y, ctx, rank, ranks, batch, steps=STEPS):
    """``steps`` steps; step k uses rows [k*ranks*batch, (k+1)*ranks*batch), this rank its slice."""
    trainer = trainer_factory(net)
    history = []
    contexts = ctx if isinstance(ctx, list) else [ctx]
    part = batch // len(contexts)
    for k in range(steps):
        lo = k * ranks * batch + rank * batch
        with autograd.record():  # the batch split over the contexts, one loss each
            losses = [loss_of(net, nd.array(X[lo + j * part:lo + (j + 1) * part], ctx=c),
                              nd.array(Y[lo + j * part:lo + (j + 1) * part], ctx=c))
                      for j, c in enumerate(contexts)]
        for loss in losses:
            loss.backward()
        trainer.step(batch)
        history.append(snapshot(net))
    return trainer, history


def reference_run(opt, opt_params, ctx, ranks):
    """One process, batch ``ranks * B``: what ``ranks`` ranks with batch ``B`` must reproduce."""
    X, Y = make_data(STEPS * ranks * B)
    net = build(100, ctx)
    factory = lambda n: gluon.Trainer(n.collect_params(), opt, dict(opt_params))  # noqa: E731
    return train_steps(factory, net, X, Y, ctx, 0, 1, ranks * B)[1]


OPTIMIZERS = {"sgd": ("sgd", {"learning_rate": 0.05}), "adam": ("adam", {"learning_rate": 0.01})}


def _save_history(out, name, history):
    arrays = {f"step{k}/{key}": v for k, snap in enumerate(history) for key, v in snap.items()}
    np.savez(os.path.join(out, f"{name}_rank{dist.rank()}.npz"), **arrays)


def scenario_train(out, ctx):
    r, n = dist.rank(), dist.size()
    X, Y = make_data(STEPS * n * B)
    report = {}
    # SGD through gluon.Trainer(kvstore='dist_sync'), the default bucket size.
    net = build(100, ctx)
    opt, params = OPTIMIZERS["sgd"]
    trainer, hist = train_steps(lambda m: gluon.Trainer(m.collect_params(), opt, params, kvstore="dist_sync"),
                                net, X, Y, ctx, r, n, B)
    _save_history(out, "sgd", hist)
    report["sgd_buckets"] = trainer._dist.last_buckets
    # Adam through DistributedTrainer with buckets of 64 bytes: several collectives per step.
    net = build(100, ctx)
    opt, params = OPTIMIZERS["adam"]
    trainer, hist = train_steps(
        lambda m: dist.DistributedTrainer(m.collect_params(), opt, params, bucket_mb=64 / 2 ** 20),
        net, X, Y, ctx, r, n, B)
    _save_history(out, "adam", hist)
    report["adam_buckets"] = trainer._dist.last_buckets
    # SGD with every parameter on two contexts inside each rank: summed here, averaged across ranks.
    contexts = [ctx, gp.cpu(1)]
    net = build(100, contexts)
    opt, params = OPTIMIZERS["sgd"]
    _, hist = train_steps(lambda m: gluon.Trainer(m.collect_params(), opt, params, kvstore="dist_sync"),
                          net, X, Y, contexts, r, n, B)
    _save_history(out, "multi", hist)
    # Rank-dependent initial values: the first step's broadcast must make them rank 0's.
    net = build(200 + r, ctx)
    net(nd.array(X[:1], ctx=ctx))  # finish deferred initialization to see each rank's own start
    report["bcast_initial"] = [float(v) for v in net[0].weight.data().asnumpy().ravel()[:4]]
    trainer, hist = train_steps(lambda m: gluon.Trainer(m.collect_params(), "sgd", {"learning_rate": 0.05},
                                                        kvstore="dist_sync"), net, X, Y, ctx, r, n, B)
    _save_history(out, "bcast", hist)
    # Files: save_parameters / save_states write on rank 0 only; load_parameters works on all.
    net.save_parameters(os.path.join(out, f"params_rank{r}.npz"))
    trainer.save_states(os.path.join(out, f"states_rank{r}.npz"))
    net.save_parameters(os.path.join(out, "shared.npz"))
    dist.barrier()
    fresh = build(300 + r, ctx)
    fresh(nd.array(X[:1], ctx=ctx))
    fresh.load_parameters(os.path.join(out, "shared.npz"), ctx=ctx)
    pairs = zip(fresh.collect_params().values(), net.collect_params().values(), strict=True)
    report["loaded_equal"] = all(np.array_equal(a.data().asnumpy(), b.data().asnumpy()) for a, b in pairs)
    # Stale gradients: rank 1 leaves the last layer out of its loss.
    net = build(100, ctx)
    net(nd.array(X[:1], ctx=ctx))  # shapes known everywhere before rank 1 skips a layer
    trainer = gluon.Trainer(net.collect_params(), "sgd", {"learning_rate": 0.05}, kvstore="dist_sync")
    xb, yb = nd.array(X[r * B:(r + 1) * B], ctx=ctx), nd.array(Y[r * B:(r + 1) * B], ctx=ctx)

    def backward():
        with autograd.record():
            loss = loss_of(net, xb, yb) if r == 0 else (net[0](xb) ** 2).sum()
        loss.backward()

    backward()
    try:
        trainer.step(B)
        report["stale_error"] = None
    except StaleGradientError as exc:
        report["stale_error"] = str(exc)
    backward()
    before = net[1].weight.data().asnumpy().copy()
    trainer.step(B, ignore_stale_grad=True)
    report["ignored_stale"] = {key: v.tolist() for key, v in snapshot(net).items()}
    report["last_layer_moved"] = bool(not np.array_equal(before, net[1].weight.data().asnumpy()))
    with open(os.path.join(out, f"report_rank{r}.json"), "w", encoding="utf-8") as f:
        json.dump(report, f)


def scenario_collectives(out, ctx, early):
    dist.init()
    dist.init(backend="mpi", timeout=5)  # a second call is harmless
    r, n = dist.rank(), dist.size()
    x = nd.array(np.arange(6, dtype=np.float32).reshape(2, 3) * (r + 1) + r, ctx=ctx)
    results = {
        "rank": r, "size": n, "local_rank": dist.local_rank(), "local_size": dist.local_size(),
        "device": str(dist.device()), "backend": dist.backend(),
        "sum": dist.allreduce(x).asnumpy().tolist(),
        "mean": dist.allreduce(x, op="mean").asnumpy().tolist(),
        "max": dist.allreduce(x, op="max").asnumpy().tolist(),
        "min": dist.allreduce(x, op="min").asnumpy().tolist(),
        "int_sum": dist.allreduce(nd.array([r, 10 * r], dtype="int64", ctx=ctx)).asnumpy().tolist(),
        "half_sum": dist.allreduce(nd.array([0.5 * (r + 1), 2.0], dtype="float16", ctx=ctx))
        .asnumpy().tolist(),
        "bcast": dist.broadcast(x, root=n - 1).asnumpy().tolist(),
        "gather": dist.allgather(nd.array(np.full((r + 1, 2), r, dtype=np.float32), ctx=ctx))
        .asnumpy().tolist(),
        "input_unchanged": x.asnumpy().tolist(),
        "early_sampler": early,
        "half_bcast": dist.broadcast(nd.array([0.5 + r, -2.0], dtype="float16", ctx=ctx), root=1)
        .asnumpy().tolist(),
        "int8_gather": dist.allgather(nd.array([[r, -r]], dtype="int8", ctx=ctx)).asnumpy().tolist(),
    }
    y = x.copy()
    dist.allreduce(y, inplace=True)
    results["inplace_sum"] = y.asnumpy().tolist()
    # float32 sums of random data: bit-identical on every rank?
    noise = nd.array(np.random.default_rng(r).normal(size=1000).astype(np.float32), ctx=ctx)
    results["noise_sum"] = dist.allreduce(noise).asnumpy().view(np.uint32).tolist()
    sampler = gdata.DistributedSampler(10, shuffle=True, seed=3)
    results["sampler"] = {}
    for epoch in (0, 1):
        sampler.set_epoch(epoch)
        results["sampler"][epoch] = list(sampler)
    results["sampler_drop"] = list(gdata.DistributedSampler(10, shuffle=True, seed=3, drop_last=True))
    shard = gdata.ArrayDataset(np.arange(10, dtype=np.float32)).distributed_shard()
    results["shard"] = [float(shard[i]) for i in range(len(shard))]
    dist.barrier()
    with open(os.path.join(out, f"rank{r}.json"), "w", encoding="utf-8") as f:
        json.dump(results, f)
    dist.finalize()
    dist.finalize()


def scenario_mismatch(out, ctx):
    r = dist.rank()
    X, Y = make_data(2 * B)
    net = build(100, ctx, hidden=HIDDEN + (1 if r == 1 else 0))
    trainer = gluon.Trainer(net.collect_params(), "sgd", {"learning_rate": 0.05}, kvstore="dist_sync")
    with autograd.record():
        loss = loss_of(net, nd.array(X[:B], ctx=ctx), nd.array(Y[:B], ctx=ctx))
    loss.backward()
    trainer.step(B)  # raises ParameterMismatchError on every rank, uncaught: the job ends


def scenario_fail(out, ctx, mode):
    r, n = dist.rank(), dist.size()
    X, Y = make_data(STEPS * n * B)
    net = build(100, ctx)
    trainer = gluon.Trainer(net.collect_params(), "sgd", {"learning_rate": 0.05}, kvstore="dist_sync")
    for k in range(STEPS):
        if k == 2 and r == 1:
            print(f"rank 1 fails now ({mode})", flush=True)
            if mode == "raise":
                raise ValueError("a deliberate failure on rank 1")
            if mode == "kill":
                os.kill(os.getpid(), signal.SIGKILL)
            if mode == "hang":
                time.sleep(120)
        lo = k * n * B + r * B
        with autograd.record():
            loss = loss_of(net, nd.array(X[lo:lo + B], ctx=ctx), nd.array(Y[lo:lo + B], ctx=ctx))
        loss.backward()
        trainer.step(B)
    print(f"rank {r} finished", flush=True)


def main(argv):
    scenario, out = argv[0], argv[1]
    # A sampler made before init() joins the job itself.
    early = list(gdata.DistributedSampler(9, shuffle=False)) if scenario == "collectives" else None
    dist.init()  # the collective timeout from GPUPARAMS_DIST_TIMEOUT
    # cpu: cpu(0); gpu: gpu(0) on every rank (the emulated one); device: the rank's own GPU.
    where = argv[2] if len(argv) > 2 else "cpu"
    ctx = {"cpu": gp.cpu(0), "gpu": gp.gpu(0)}.get(where) or dist.device()
    if scenario == "train":
        scenario_train(out, ctx)
    elif scenario == "collectives":
        scenario_collectives(out, ctx, early)
    elif scenario == "mismatch":
        scenario_mismatch(out, ctx)
    elif scenario.startswith("fail-"):
        scenario_fail(out, ctx, scenario[5:])
    else:
        raise SystemExit(f"unknown scenario {scenario!r}")


if __name__ == "__main__":
    main(sys.argv[1:])

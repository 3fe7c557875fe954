"""What each rank of a ``bench --suite dist`` job runs: ``python -m gpuparams.bench.dist_worker``.

``allreduce SIZES REPS WARMUP CTX``: for every message size (bytes) time ``distributed.allreduce``
(and, on the CPU, mpi4py's blocking ``Allreduce`` of the same buffer as the baseline: the cost of our
deadline-polling wrapper); check the sum against float64.
``mlp STEPS WARMUP BATCH CTX``: time data-parallel steps of the MLP 784-256-256-10 (forward,
softmax cross-entropy, backward, gradient average, SGD); ``mlp-alone`` the same steps with each rank
training on its own (no gradient average): the part of the slow-down that is the machine's, not
the communication's, when the ranks share one machine.

Rank 0 prints one JSON line, ``RESULT {...}``, that the driver (:mod:`gpuparams.bench.dist`) reads.
"""
from __future__ import annotations

import json
import sys
import time

import numpy as np

MLP_SIZES = (784, 256, 256, 10)


def _context(name, dist):
    import gpuparams as gp
    return gp.cpu(0) if name == "cpu" else dist.device()


def _allreduce(dist, sizes, reps, warmup, ctx_name):
    from gpuparams import nd
    ctx = _context(ctx_name, dist)
    if ctx_name != "cpu" and dist.backend() != "nccl":
        raise SystemExit(f"NCCL is not in use here (backend {dist.backend()!r}, device {ctx})")
    world = dist._world_or_none()
    rows = []
    r, n = dist.rank(), dist.size()
    for nbytes in sizes:
        count = max(1, nbytes // 4)
        host = np.random.default_rng([r, count]).uniform(-1, 1, count).astype(np.float32)
        expected = sum(np.random.default_rng([k, count]).uniform(-1, 1, count).astype(np.float32)
                       .astype(np.float64) for k in range(n))
        x = nd.array(host, ctx=ctx)
        got = dist.allreduce(x).asnumpy()
        err = float(np.abs(got - expected).max() / max(np.abs(expected).max(), 1e-30))
        times = []
        for i in range(warmup + reps):
            dist.barrier()
            if ctx.device_type == "gpu":
                nd.waitall()
            start = time.perf_counter()
            dist.allreduce(x, inplace=True)
            if ctx.device_type == "gpu":
                nd.waitall()
            if i >= warmup:
                times.append((time.perf_counter() - start) * 1e3)
        base = []
        if ctx_name == "cpu" and world is not None:
            buf = host.copy()
            for i in range(warmup + reps):
                world.comm.Barrier()
                start = time.perf_counter()
                world.comm.Allreduce(world.MPI.IN_PLACE, buf, op=world.MPI.SUM)
                if i >= warmup:
                    base.append((time.perf_counter() - start) * 1e3)
        rows.append({"bytes": count * 4, "times_ms": times, "baseline_ms": base, "max_rel_err": err})
    return {"ranks": n, "device": str(ctx), "backend": dist.backend(), "rows": rows}


def _mlp(dist, steps, warmup, batch, ctx_name, average=True):
    import gpuparams as gp
    from gpuparams import autograd, gluon, nd
    from gpuparams.gluon import loss as gloss, nn
    ctx = _context(ctx_name, dist)
    gp.random.seed(0)
    net = nn.Sequential()
    for width in MLP_SIZES[1:-1]:
        net.add(nn.Dense(width, activation="relu"))
    net.add(nn.Dense(MLP_SIZES[-1]))
    net.initialize(gp.init.Xavier(), ctx=ctx)
    kv = "dist_sync" if dist.size() > 1 and average else "device"
    trainer = gluon.Trainer(net.collect_params(), "sgd", {"learning_rate": 0.01}, kvstore=kv)
    rng = np.random.default_rng(dist.rank())
    X = nd.array(rng.uniform(-1, 1, (batch, MLP_SIZES[0])).astype(np.float32), ctx=ctx)
    y = nd.array(rng.integers(0, MLP_SIZES[-1], batch).astype(np.float32), ctx=ctx)
    loss_fn = gloss.SoftmaxCrossEntropyLoss()

    def step():
        with autograd.record():
            loss = loss_fn(net(X), y)
        loss.backward()
        trainer.step(batch)

    for _ in range(warmup):
        step()
    nd.waitall()
    dist.barrier()
    start = time.perf_counter()
    for _ in range(steps):
        step()
    nd.waitall()
    elapsed = time.perf_counter() - start
    # The slowest rank sets the pace of a synchronous job.
    slowest = dist.allreduce(nd.array([elapsed], dtype="float64"), op="max").asscalar()
    return {"ranks": dist.size(), "device": str(ctx), "backend": dist.backend(), "steps": steps,
            "averaged": kv == "dist_sync",
            "batch_per_rank": batch, "seconds": float(slowest),
            "examples_per_s": dist.size() * batch * steps / float(slowest)}


def main(argv):
    from gpuparams import distributed as dist
    what = argv[0]
    dist.init(backend="mpi" if argv[-1] == "cpu" else "auto")
    if what == "allreduce":
        sizes = [int(s) for s in argv[1].split(",")]
        result = _allreduce(dist, sizes, int(argv[2]), int(argv[3]), argv[4])
    elif what in ("mlp", "mlp-alone"):
        result = _mlp(dist, int(argv[1]), int(argv[2]), int(argv[3]), argv[4], average=what == "mlp")
    else:
        raise SystemExit(f"unknown measurement {what!r}")
    if dist.rank() == 0:
        print("RESULT " + json.dumps(result), flush=True)
    dist.finalize()


if __name__ == "__main__":
    main(sys.argv[1:])

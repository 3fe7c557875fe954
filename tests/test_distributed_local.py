"""``gpuparams.distributed`` inside one process: the no-op world, argument checks, the sampler,
buckets and the parameter-set comparison (the multi-process behaviour is in test_distributed.py)."""
import os
import subprocess
import sys

import numpy as np
import pytest

import gpuparams as gp
from gpuparams import autograd, distributed as dist, gluon, nd
from gpuparams.distributed import _buckets, _env, _sync, _world
from gpuparams.gluon import data as gdata, nn


@pytest.fixture
def single():
    """``init()`` outside a launcher; the module state is put back afterwards."""
    saved = dict(vars(dist._state))
    dist.init()
    yield
    for key in ("initialized", "finalized", "world", "nccl", "device", "backend", "warned_host_copy"):
        setattr(dist._state, key, saved.get(key, getattr(type(dist._state), key)))


# ----------------------------------------------------------------------------- one process
def test_outside_a_launcher_the_world_is_one_process(single):
    dist.init()  # again: harmless
    assert dist.is_initialized()
    assert (dist.rank(), dist.size(), dist.local_rank(), dist.local_size()) == (0, 1, 0, 1)
    assert dist.device() == gp.cpu(0) and dist.backend() == "none"
    assert "mpi4py" not in sys.modules or dist._world_or_none() is None
    x = nd.array([1.0, 2.0])
    y = dist.allreduce(x, op="mean")
    assert y is not x and y.asnumpy().tolist() == [1.0, 2.0]
    assert dist.allreduce(x, inplace=True) is x
    assert dist.broadcast(x).asnumpy().tolist() == [1.0, 2.0]
    assert dist.allgather(x).asnumpy().tolist() == [1.0, 2.0]
    dist.barrier()


def test_import_does_not_load_mpi():
    code = "import gpuparams.distributed, gpuparams.gluon; import sys; print('mpi4py' in sys.modules)"
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=60,
                         env={"PATH": "/usr/bin:/bin", "PYTHONPATH": gp.__path__[0].rsplit("/", 1)[0]})
    assert out.stdout.strip() == "False", out.stderr


def test_bad_arguments_are_named(single):
    with pytest.raises(ValueError, match="backend must be one of 'auto', 'mpi', 'nccl', got 'gloo'"):
        dist.init(backend="gloo")
    with pytest.raises(ValueError, match="timeout must be a positive number of seconds, got -1"):
        dist.init(timeout=-1)
    with pytest.raises(ValueError, match="op must be one of .*got 'prod'"):
        dist.allreduce(nd.ones((2,)), op="prod")
    with pytest.raises(TypeError, match="op='mean' needs a floating-point array, got dtype int32"):
        dist.allreduce(nd.array([1, 2], dtype="int32"), op="mean")
    with pytest.raises(TypeError, match="expected an NDArray, got ndarray"):
        dist.allreduce(np.ones(2))
    with pytest.raises(ValueError, match=r"root must be a rank in 0\.\.0, got 1"):
        dist.broadcast(nd.ones((2,)), root=1)


def test_environment_values_are_checked():
    assert _env._positive_float({}, _env.TIMEOUT_ENV, 300.0) == 300.0
    assert _env._positive_float({_env.TIMEOUT_ENV: "2.5"}, _env.TIMEOUT_ENV, 300.0) == 2.5
    with pytest.raises(ValueError, match="GPUPARAMS_DIST_TIMEOUT='soon' is not a positive number of seconds"):
        _env._positive_float({_env.TIMEOUT_ENV: "soon"}, _env.TIMEOUT_ENV, 300.0)
    with pytest.raises(ValueError, match="GPUPARAMS_DIST_BUCKET_MB='0' is not a positive number of "
                                         "megabytes"):
        _env._positive_float({_env.BUCKET_ENV: "0"}, _env.BUCKET_ENV, 4.0)
    assert _env._launched_size({"PMI_SIZE": "4"}) == 4
    assert _env._launched_size({"OMPI_COMM_WORLD_SIZE": "2", "SLURM_NTASKS": "8"}) == 2
    assert _env._launched_size({}) == 1


def test_second_init_after_finalize_is_refused(single):
    dist.finalize()
    dist.finalize()  # harmless
    with pytest.raises(dist.DistributedError, match="finalize\\(\\) was already called"):
        dist.init()


def _train_once(kvstore, fresh_seed=0):
    gp.random.seed(fresh_seed)
    net = nn.Sequential()
    net.add(nn.Dense(4, activation="relu"), nn.Dense(2))
    net.initialize()
    trainer = gluon.Trainer(net.collect_params(), "adam", {"learning_rate": 0.1}, kvstore=kvstore)
    x = nd.array(np.random.default_rng(0).normal(size=(6, 3)).astype(np.float32))
    for _ in range(3):
        with autograd.record():
            loss = (net(x) ** 2).sum()
        loss.backward()
        trainer.step(6)
    return [p.data().asnumpy() for p in net.collect_params().values()], trainer


def test_dist_sync_in_one_process_trains_like_device(single):
    a, _ = _train_once("device")
    b, trainer = _train_once("dist_sync")
    for u, v in zip(a, b, strict=True):
        np.testing.assert_array_equal(u, v)
    assert trainer._dist is not None


def test_unknown_kvstore_names_the_choices():
    with pytest.raises(ValueError, match="kvstore must be 'device', 'local', 'nccl', None or 'dist_sync', "
                                         "got 'dist_async'"):
        gluon.Trainer([gluon.Parameter("w", shape=(2,))], "sgd", kvstore="dist_async")


def test_distributed_trainer_checks_bucket_size(single):
    with pytest.raises(ValueError, match="bucket_mb must be a positive number of megabytes, got 0"):
        dist.DistributedTrainer([gluon.Parameter("w", shape=(2,))], "sgd", bucket_mb=0)


# ----------------------------------------------------------------------------- buckets
def test_buckets_group_by_dtype_and_context_within_the_size():
    arrays = [nd.zeros((10,)), nd.zeros((10,)), nd.zeros((3,), dtype="float64"), nd.zeros((40,)),
              nd.zeros((2,))]
    # 40-byte float32 arrays into 80-byte buckets; the float64 one apart; the 160-byte one alone.
    assert _buckets.plan(arrays, 80) == [[0, 1], [2], [3], [4]]
    assert _buckets.plan(arrays, 10 ** 6) == [[0, 1, 3, 4], [2]]


def test_run_on_buckets_writes_every_result_back():
    arrays = [nd.array(np.arange(n, dtype=np.float32)) for n in (3, 5, 2)]
    arrays.append(nd.array(np.arange(4, dtype=np.float32).reshape(2, 2)).T)  # not contiguous
    seen = []

    def double(flat, what):
        seen.append((flat.shape, what))
        flat._data *= 2

    count = _buckets.run_on_buckets(arrays, 24, double, lambda k, n: f"bucket {k + 1}/{n}")
    assert count == len(seen) == 3
    assert [s for s, _ in seen] == [(3,), (5,), (2 + 4,)]
    assert arrays[1].asnumpy().tolist() == [0, 2, 4, 6, 8]
    assert arrays[3].asnumpy().tolist() == [[0, 4], [2, 6]]


# ----------------------------------------------------------------------------- parameter sets
class _FakeWorld:
    def __init__(self, signatures):
        self.signatures = signatures

    def allgather_json(self, value, detail):
        return [value] + self.signatures


def _params(*shapes):
    out = []
    for i, shape in enumerate(shapes):
        p = gluon.Parameter(f"layer{i}_weight", shape=shape)
        p.initialize()
        out.append(p)
    return out


def test_mismatch_names_the_missing_parameter():
    mine = _params((2, 3), (3,))
    other = _sync._signature(_params((2, 3)))
    with pytest.raises(dist.ParameterMismatchError,
                       match="parameter layer1_weight is trained on rank 0 but not on rank 1"):
        _sync._check_same_parameters(_FakeWorld([other]), mine)


def test_mismatch_names_the_dtype():
    mine = _params((2,))
    other = _sync._signature(_params((2,)))
    other[0][2] = "float64"
    with pytest.raises(dist.ParameterMismatchError,
                       match="layer0_weight has dtype float32 on rank 0 but float64 on rank 2"):
        _sync._check_same_parameters(_FakeWorld([_sync._signature(mine), other]), mine)


def test_same_parameters_pass():
    mine = _params((2, 3), (3,))
    _sync._check_same_parameters(_FakeWorld([_sync._signature(mine)]), mine)


# ----------------------------------------------------------------------------- watching local ranks
def test_a_finished_local_process_counts_as_gone():
    child = subprocess.Popen([sys.executable, "-c", "pass"])
    child.wait()
    assert _world._process_gone({"pid": child.pid})
    import os
    assert not _world._process_gone({"pid": os.getpid()})


# ----------------------------------------------------------------------------- the sampler
@pytest.mark.parametrize("length,replicas", [(10, 3), (9, 3), (2, 3), (0, 2), (7, 1), (1, 4)])
@pytest.mark.parametrize("shuffle", [True, False])
def test_sampler_partitions_each_epoch(length, replicas, shuffle):
    for epoch in (0, 3):
        parts = []
        for r in range(replicas):
            s = gdata.DistributedSampler(length, replicas, r, shuffle=shuffle, seed=5)
            s.set_epoch(epoch)
            parts.append(list(s))
            assert len(parts[-1]) == len(s) == -(-length // replicas)
        # Rank r holds entries r, r + replicas, ... of one padded permutation.
        merged = [parts[i % replicas][i // replicas] for i in range(sum(map(len, parts)))]
        assert sorted(merged[:length]) == list(range(length))  # every example once
        pad = -length % replicas if length else 0
        assert merged[length:] == np.resize(merged[:length], pad).tolist()  # then the padding
        dropped = [list(gdata.DistributedSampler(length, replicas, r, shuffle=shuffle, seed=5,
                                                 drop_last=True)) for r in range(replicas)]
        flat = sum(dropped, [])
        assert len(flat) == len(set(flat)) == length // replicas * replicas


def test_sampler_epochs_differ_and_agree_across_ranks():
    a = gdata.DistributedSampler(100, 2, 0, seed=1)
    b = gdata.DistributedSampler(100, 2, 1, seed=1)
    first = list(a)
    a.set_epoch(1)
    b.set_epoch(1)
    assert list(a) != first
    assert sorted(list(a) + list(b)) == list(range(100))
    assert list(gdata.DistributedSampler(100, 2, 0, seed=2)) != first  # the seed matters


def test_sampler_defaults_to_the_job(single):
    s = gdata.DistributedSampler(5, shuffle=False)
    assert list(s) == [0, 1, 2, 3, 4]


def test_sampler_rejects_bad_arguments():
    with pytest.raises(ValueError, match=r"rank must be an int in 0\.\.1, got 2"):
        gdata.DistributedSampler(4, 2, 2)
    with pytest.raises(ValueError, match="num_replicas must be a positive int, got 0"):
        gdata.DistributedSampler(4, 0, 0)
    with pytest.raises(ValueError, match="length must be a non-negative int"):
        gdata.DistributedSampler(-1, 1, 0)
    with pytest.raises(ValueError, match="epoch must be a non-negative int, got -1"):
        gdata.DistributedSampler(4, 1, 0).set_epoch(-1)


def test_distributed_shard_keeps_the_fast_batch_path_and_the_order():
    X = np.arange(14, dtype=np.float32).reshape(7, 2)
    ds = gdata.ArrayDataset(X, np.arange(7))
    shard = ds.distributed_shard(3, 1)
    assert len(shard) == 3 and hasattr(shard, "_gather")
    batches = [b[1].asnumpy().tolist() for b in gdata.DataLoader(shard, batch_size=2)]
    assert batches == [[1, 4], [0]]  # 7 over 3 ranks: rank 1 takes 1, 4 and the padding entry 0
    np.testing.assert_array_equal(shard[1][0], X[4])
    plain = gdata.SimpleDataset(list("abcdefg")).distributed_shard(3, 2, drop_last=True)
    assert [plain[i] for i in range(len(plain))] == ["c", "f"] and not hasattr(plain, "_gather")
    with pytest.raises(IndexError, match="shard index 2 out of range for 2 examples"):
        plain[2]


def test_data_loader_with_a_distributed_sampler():
    ds = gdata.ArrayDataset(np.arange(10, dtype=np.float32))
    seen = []
    for r in range(2):
        loader = gdata.DataLoader(ds, batch_size=3, sampler=gdata.DistributedSampler(10, 2, r, seed=0))
        seen += [v for batch in loader for v in batch.asnumpy().tolist()]
    assert sorted(seen) == list(range(10))


def test_distributed_errors_pickle_with_the_ranks_they_name():
    import pickle
    for cls in (dist.CollectiveTimeoutError, dist.RankFailedError):
        back = pickle.loads(pickle.dumps(cls("rank 1 did not reach it", [1])))
        assert type(back) is cls and str(back) == "rank 1 did not reach it" and back.missing == [1]
    assert issubclass(dist.ParameterMismatchError, gp.errors.GpuparamsError)


# ----------------------------------------------------------------------------- the train command's files
def _train_args(*argv):
    import argparse

    from gpuparams.cli import train as train_cli
    parser = argparse.ArgumentParser()
    train_cli.add_arguments(parser)
    return parser.parse_args(["--examples", "30", *argv])


def test_only_the_writing_rank_picks_and_checks_the_output_files(tmp_path, monkeypatch):
    """Rank 0 alone writes the files of a distributed ``train``, so it alone makes the run folder
    and checks where the files go; the other ranks do neither (and cannot fail on it)."""
    from gpuparams.cli import UsageError
    from gpuparams.cli import train as train_cli
    monkeypatch.chdir(tmp_path)
    plan = train_cli._resolve(_train_args(), writes=False)
    assert plan.params_path is None and plan.made_folder is None
    assert list(tmp_path.iterdir()) == []  # no runs/<timestamp>/ of its own
    plan = train_cli._resolve(_train_args())
    assert plan.made_folder is not None and os.path.isdir(plan.made_folder)
    assert plan.params_path == os.path.join(plan.made_folder, "model.npz")
    # A folder missing on a non-writing rank's machine is not that rank's problem.
    missing = str(tmp_path / "elsewhere" / "model.npz")
    train_cli._resolve(_train_args("--out", missing), writes=False)
    with pytest.raises(UsageError, match="does not exist"):
        train_cli._resolve(_train_args("--out", missing))

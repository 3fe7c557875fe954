"""Samplers, dataset methods and DataLoader against MXNet 1.9.1 (tests/data/mxnet_data_reference.json),
and DataLoader's worker processes and threads: same batches, errors with tracebacks, no leftovers."""
import json
import os
import pathlib
import sys
import time

import numpy as np
import pytest

import gpuparams as gp
from gpuparams import nd
from gpuparams.errors import DataLoaderWorkerError
from gpuparams.gluon import data as gdata
from gpuparams.gluon.data.vision import transforms

DATA = pathlib.Path(__file__).parent / "data"
sys.path.insert(0, str(DATA))
import mxnet_data_cases as cases  # noqa: E402

REF = json.loads((DATA / "mxnet_data_reference.json").read_text())


def test_import_paths_are_one_package():
    from gpuparams.gluon.data import DataLoader
    import gpuparams.gluon.data.vision as vision
    assert DataLoader is gp.data.DataLoader
    assert vision is gp.data.vision and vision.transforms is transforms
    assert gp.gluon.data is gp.data


@pytest.mark.parametrize("section", ["samplers", "datasets"])
def test_matches_mxnet(section):
    ours = cases.samplers(gdata, gdata.IntervalSampler) if section == "samplers" else cases.datasets(gdata)
    assert ours == REF[section]


def test_loaders_match_mxnet_including_workers_and_threads():
    ours = cases.loaders(gdata)
    ref = REF["loaders"]
    for key in ref:
        if key != "default_batchify":
            assert ours[key] == ref[key], key
    batchify_ref = dict(ref["default_batchify"])
    # MXNet has bool NDArrays; gpuparams does not and says so (README, "Where we differ").
    assert batchify_ref.pop("bool")[0][0] == "bool"
    assert "bool" in ours["default_batchify"].pop("bool")["error"]
    assert ours["default_batchify"] == batchify_ref


def test_sampler_argument_errors():
    with pytest.raises(ValueError, match="interval 5 must not exceed length 3"):
        gdata.IntervalSampler(3, 5)
    with pytest.raises(ValueError, match="start must be a non-negative int"):
        gdata.SequentialSampler(3, start=-1)
    with pytest.raises(TypeError, match="fn must be callable"):
        gdata.FilterSampler(3, gdata.SimpleDataset([1]))
    with pytest.raises(ValueError, match="index 3 out of range for 3 shards"):
        gdata.SimpleDataset([1, 2]).shard(3, 3)
    with pytest.raises(TypeError, match="needs a gluon.data.Sampler"):
        gdata.SimpleDataset([1, 2]).sample([0])


def test_sampled_array_dataset_keeps_the_fast_batch_path(monkeypatch):
    ds = gdata.ArrayDataset(np.arange(10, dtype=np.float32), np.arange(10))
    monkeypatch.setattr(gdata.ArrayDataset, "__getitem__", lambda self, i: 1 / 0)
    batches = [y.asnumpy().tolist() for _, y in gdata.DataLoader(ds.shard(2, 1), batch_size=3)]
    assert batches == [[5, 6, 7], [8, 9]]


# ----------------------------------------------------------------------------- workers
def _children():
    """Process ids whose parent is this process (from /proc)."""
    me = str(os.getpid())
    out = []
    for entry in os.listdir("/proc"):
        if entry.isdigit():
            try:
                with open(f"/proc/{entry}/stat") as f:
                    fields = f.read().rsplit(")", 1)[1].split()
            except OSError:
                continue
            if fields[1] == me and fields[0] != "Z":
                out.append(int(entry))
    return out


needs_proc = pytest.mark.skipif(not os.path.isdir("/proc/self"), reason="needs /proc (Linux)")


class _Noisy(gdata.Dataset):
    """Random per-example values drawn from gp.random: the same batches only if seeding is by batch."""

    def __len__(self):
        return 23

    def __getitem__(self, i):
        return np.float32(i) + np.float32(gp.random.generator().random()), np.int32(i)


def _epochs(loader, n=2):
    return [[[f.asnumpy().tolist() for f in b] for b in loader] for _ in range(n)]


def test_workers_and_threads_give_the_batches_of_num_workers_0():
    flip = gdata.ArrayDataset(np.arange(60, dtype=np.uint8).reshape(5, 4, 3, 1)).transform(
        transforms.RandomFlipLeftRight())
    for ds, batchify in ((_Noisy(), None), (flip, None)):
        results = []
        for kw in ({}, {"num_workers": 2}, {"num_workers": 3, "prefetch": 1}, {"num_workers": 2,
                                                                            "thread_pool": True}):
            gp.random.seed(4)
            loader = gdata.DataLoader(ds, batch_size=2, shuffle=True, batchify_fn=batchify, **kw)
            epochs = _epochs(loader) if ds is not flip else [[b.asnumpy().tolist() for b in loader]
                                                             for _ in range(2)]
            results.append(epochs)
        assert all(r == results[0] for r in results[1:])
        assert results[0][0] != results[0][1]           # a fresh draw each epoch


def test_seed_reproduces_random_transforms_with_workers():
    def run():
        gp.random.seed(9)
        return _epochs(gdata.DataLoader(_Noisy(), batch_size=4, shuffle=True, num_workers=2))
    first = run()
    assert run() == first
    values = [v for epoch in first for batch in epoch for v in batch[0]]
    assert len(set(np.round(np.array(values) % 1, 6))) > 20   # really random fractions


class _FailsAt(gdata.Dataset):
    def __len__(self):
        return 10

    def __getitem__(self, i):
        if i == 7:
            raise KeyError(f"example {i} is broken")
        return np.float32(i)


@needs_proc
def test_worker_exception_reaches_the_caller_with_its_traceback():
    loader = gdata.DataLoader(_FailsAt(), batch_size=2, num_workers=2)
    seen = []
    with pytest.raises(KeyError, match="example 7 is broken") as info:
        for b in loader:
            seen.append(b.asnumpy().tolist())
    assert seen == [[0, 1], [2, 3], [4, 5]]              # the batches before the failing one, in order
    cause = info.value.__cause__
    assert isinstance(cause, DataLoaderWorkerError)
    assert "worker 1 failed on batch 3" in str(cause)
    assert "in __getitem__" in str(cause) and "raise KeyError" in str(cause)
    _wait_no_children()


def _wait_no_children(limit=5.0):
    deadline = time.monotonic() + limit
    while _children() and time.monotonic() < deadline:
        time.sleep(0.05)
    assert _children() == []


@needs_proc
def test_no_worker_processes_left_after_break_or_exhaustion():
    _wait_no_children()
    ds = gdata.ArrayDataset(np.arange(40, dtype=np.float32))
    loader = gdata.DataLoader(ds, batch_size=2, num_workers=3)
    for i, _ in enumerate(loader):
        if i == 0:
            assert len(_children()) == 3                 # real worker processes while iterating
        if i == 2:
            break
    _wait_no_children()
    assert len(list(loader)) == 20
    _wait_no_children()
    it = iter(loader)
    next(it)
    del it
    _wait_no_children()


@needs_proc
def test_a_worker_that_dies_is_reported():
    class Dies(gdata.Dataset):
        def __len__(self):
            return 4

        def __getitem__(self, i):
            os._exit(3)
    with pytest.raises(DataLoaderWorkerError, match="exited with code 3"):
        list(gdata.DataLoader(Dies(), batch_size=2, num_workers=1, timeout=20))
    _wait_no_children()


def test_timeout_names_the_setting():
    class Slow(gdata.Dataset):
        def __len__(self):
            return 2

        def __getitem__(self, i):
            time.sleep(0.5)
            return np.float32(i)
    for kw in ({"num_workers": 1}, {"num_workers": 1, "thread_pool": True}):
        with pytest.raises(DataLoaderWorkerError, match="timeout=0.1"):
            list(gdata.DataLoader(Slow(), batch_size=1, timeout=0.1, **kw))


def test_thread_pool_exception_keeps_its_type():
    with pytest.raises(KeyError, match="example 7"):
        list(gdata.DataLoader(_FailsAt(), batch_size=2, num_workers=2, thread_pool=True))


def test_workers_refuse_a_dataset_on_a_gpu_context():
    gpu_data = nd.zeros((4, 2), ctx=gp.cpu(0))
    gpu_data._ctx = gp.gpu(0)   # what the check reads; no GPU is touched
    with pytest.raises(ValueError, match="num_workers > 0 needs the dataset on the CPU.*gpu\\(0\\)"):
        gdata.DataLoader(gdata.ArrayDataset(gpu_data), batch_size=2, num_workers=1)


def test_pin_memory_and_compatibility_arguments():
    ds = gdata.ArrayDataset(np.arange(6, dtype=np.float32).reshape(3, 2))
    plain = [b.asnumpy().tolist() for b in gdata.DataLoader(ds, batch_size=2)]
    pinned = gdata.DataLoader(ds, batch_size=2, pin_memory=True, pin_device_id=0, auto_reload=True)
    assert [b.asnumpy().tolist() for b in pinned] == plain
    assert all(b.context == gp.cpu(0) for b in pinned)
    with pytest.raises(ValueError, match="num_workers must be an int >= 0"):
        gdata.DataLoader(ds, batch_size=2, num_workers=-1)
    with pytest.raises(ValueError, match="timeout must be a positive"):
        gdata.DataLoader(ds, batch_size=2, timeout=0)
    with pytest.raises(TypeError, match="batchify_fn must be callable"):
        gdata.DataLoader(ds, batch_size=2, batchify_fn=3)


def test_loader_does_not_advance_the_shared_generator():
    gp.random.seed(1)
    expected = gp.random.generator().random()
    gp.random.seed(1)
    list(gdata.DataLoader(_Noisy(), batch_size=5))
    assert gp.random.generator().random() == expected


def test_using_generator_is_lazy_per_thread_and_restored():
    import threading
    made = []

    def factory():
        made.append(1)
        return np.random.Generator(np.random.PCG64(5))
    shared = gp.random.generator()
    with gp.random.using_generator(factory):
        assert made == []                                # not built until something draws
        seen = []
        t = threading.Thread(target=lambda: seen.append(gp.random.generator()))
        t.start()
        t.join()
        assert seen == [shared]                          # other threads keep the shared generator
        first = gp.random.generator().random()
        gp.random.generator().random()
        assert made == [1]
    assert gp.random.generator() is shared
    assert first == np.random.Generator(np.random.PCG64(5)).random()

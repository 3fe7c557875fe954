"""Datasets, samplers and DataLoader: last_batch modes, shuffling, batch contents and dtypes."""
import numpy as np
import pytest

import gpuparams as gp
from gpuparams import nd
from gpuparams.gluon import data as gdata

# Every test here runs under both front ends: nd, and np after npx.set_np() (tests/conftest.py).
pytestmark = pytest.mark.usefixtures("front_end")


def _loader_23(last_batch, shuffle=False):
    X = np.arange(46, dtype=np.float32).reshape(23, 2)
    y = np.arange(23, dtype=np.float32)
    return gdata.DataLoader(gdata.ArrayDataset(X, y), batch_size=10, shuffle=shuffle,
                            last_batch=last_batch)


def _epoch_labels(loader):
    return [yb.asnumpy().astype(int).tolist() for _, yb in loader]


def test_gluon_alias():
    assert gp.data is gdata
    assert gp.gluon.data is gdata


def test_last_batch_keep():
    loader = _loader_23("keep")
    assert len(loader) == 3
    batches = _epoch_labels(loader)
    assert [len(b) for b in batches] == [10, 10, 3]
    assert batches[2] == [20, 21, 22]


def test_last_batch_default_is_keep():
    X = np.zeros((23, 1), np.float32)
    assert len(gdata.DataLoader(gdata.ArrayDataset(X), batch_size=10)) == 3


def test_last_batch_discard():
    loader = _loader_23("discard")
    assert len(loader) == 2
    for _ in range(2):  # the same two full batches every epoch
        assert _epoch_labels(loader) == [list(range(10)), list(range(10, 20))]


def test_last_batch_rollover_carries_the_remainder_into_the_next_epoch():
    loader = _loader_23("rollover")
    assert len(loader) == 2
    first = _epoch_labels(loader)
    assert first == [list(range(10)), list(range(10, 20))]
    # 3 left over (20, 21, 22) start the second epoch; 26 indices -> 2 batches, 6 carried.
    assert len(loader) == 2
    second = _epoch_labels(loader)
    assert second == [[20, 21, 22] + list(range(7)), list(range(7, 17))]
    # 6 carried + 23 = 29 -> 2 batches, 9 carried; then 9 + 23 = 32 -> 3 batches.
    assert len(_epoch_labels(loader)) == 2
    assert len(loader) == 3
    assert len(_epoch_labels(loader)) == 3


def test_rollover_with_shuffle_covers_every_example():
    gp.random.seed(3)
    loader = _loader_23("rollover", shuffle=True)
    seen = [i for _ in range(10) for b in _epoch_labels(loader) for i in b]
    # 10 epochs = 230 indices; 230 = 23*10 so everything rolled over is used by the end but the last
    # remainder: each example appears 10 times except those still carried.
    counts = np.bincount(seen, minlength=23)
    carried = 230 - len(seen)
    assert carried < 10 and len(seen) % 10 == 0
    assert counts.sum() == len(seen) and counts.min() >= 9 and counts.max() == 10


def test_bad_last_batch():
    with pytest.raises(ValueError, match="last_batch.*'keep'"):
        _loader_23("pad")


def test_shuffle_is_a_fresh_permutation_each_epoch_and_seeded():
    gp.random.seed(11)
    loader = _loader_23("keep", shuffle=True)
    orders = [sum(_epoch_labels(loader), []) for _ in range(3)]
    for order in orders:
        assert sorted(order) == list(range(23))  # every example exactly once
    assert orders[0] != orders[1] != orders[2]
    assert orders[0] != list(range(23))
    gp.random.seed(11)
    assert [sum(_epoch_labels(loader), []) for _ in range(3)] == orders


def test_shuffled_batches_keep_rows_together():
    gp.random.seed(5)
    loader = _loader_23("keep", shuffle=True)
    for Xb, yb in loader:
        np.testing.assert_array_equal(Xb.asnumpy()[:, 0], 2 * yb.asnumpy())


def test_batches_are_cut_without_per_example_access(monkeypatch):
    # The fast path fancy-indexes whole arrays; it must never touch dataset[i].
    def refuse(self, idx):
        raise AssertionError("per-example __getitem__ used")
    monkeypatch.setattr(gdata.ArrayDataset, "__getitem__", refuse)
    assert [len(b) for b in _epoch_labels(_loader_23("keep"))] == [10, 10, 3]


def test_ndarray_fields_stay_on_their_context_and_dtype(ctx):
    X = nd.array(np.arange(12).reshape(6, 2), ctx=ctx, dtype="float32")
    y = nd.array(np.arange(6), ctx=ctx, dtype="int32")
    loader = gdata.DataLoader(gdata.ArrayDataset(X, y), batch_size=4)
    (X1, y1), (X2, y2) = list(loader)
    assert X1.context == ctx and y1.context == ctx
    assert X1.dtype == np.float32 and y1.dtype == np.int32
    assert X1.shape == (4, 2) and y2.shape == (2,)
    np.testing.assert_array_equal(X2.asnumpy(), [[8, 9], [10, 11]])


def test_numpy_fields_become_cpu_ndarrays_keeping_dtype():
    X = np.ones((5, 3), dtype=np.float64)
    y = np.arange(5, dtype=np.int64)
    Xb, yb = next(iter(gdata.DataLoader(gdata.ArrayDataset(X, y), batch_size=5)))
    assert isinstance(Xb, nd.NDArray) and Xb.context == gp.cpu(0)
    assert Xb.dtype == np.float64 and yb.dtype == np.int64


def test_single_field_dataset_yields_arrays():
    batches = list(gdata.DataLoader(gdata.ArrayDataset(np.arange(5, dtype=np.float32)), batch_size=2))
    assert [b.asnumpy().tolist() for b in batches] == [[0, 1], [2, 3], [4]]


def test_array_dataset_items():
    ds = gdata.ArrayDataset(nd.array([[1, 2], [3, 4]]), nd.array([7, 8]), [10, 20])
    assert len(ds) == 2
    x, label, extra = ds[1]
    assert x.asnumpy().tolist() == [3, 4]
    assert label == 8 and extra == 20  # 1-D fields give scalars, as in Gluon
    assert ds[-1][2] == 20
    with pytest.raises(IndexError):
        ds[2]


def test_array_dataset_checks_lengths():
    with pytest.raises(ValueError, match="array 0 has 3 entries and array 1 has 2"):
        gdata.ArrayDataset(np.zeros(3), np.zeros(2))
    with pytest.raises(ValueError, match="at least one"):
        gdata.ArrayDataset()


def test_custom_batchify_fn_gets_the_examples():
    seen = []

    def batchify(examples):
        seen.append(len(examples))
        return sum(label for _, label in examples)
    ds = gdata.ArrayDataset(np.zeros((5, 2)), np.arange(5))
    assert list(gdata.DataLoader(ds, batch_size=2, batchify_fn=batchify)) == [1, 5, 4]
    assert seen == [2, 2, 1]


def test_generic_dataset_uses_default_batchify():
    class Squares(gdata.Dataset):
        def __len__(self):
            return 5

        def __getitem__(self, i):
            return np.float32(i), np.float32(i * i)
    batches = list(gdata.DataLoader(Squares(), batch_size=3))
    assert [b[1].asnumpy().tolist() for b in batches] == [[0, 1, 4], [9, 16]]
    assert batches[0][0].dtype == np.float32


def test_examples_of_different_shapes_name_the_shapes_and_the_way_out():
    ds = gdata.SimpleDataset([np.zeros(2), np.zeros(2), [1.0, 2.0, 3.0]])
    for kwargs in ({}, {"num_workers": 1}):
        with pytest.raises(ValueError, match=r"example 0 has shape \(2,\) and example 2 has shape \(3,\)"
                                             r".*batchify_fn"):
            list(gdata.DataLoader(ds, batch_size=3, **kwargs))
    # Equal shapes, given as lists and arrays alike, still make one batch.
    batch, = gdata.DataLoader(gdata.SimpleDataset([[1.0, 2.0], np.array([3.0, 4.0])]), batch_size=2)
    np.testing.assert_array_equal(batch.asnumpy(), [[1.0, 2.0], [3.0, 4.0]])


def test_samplers():
    assert list(gdata.SequentialSampler(4)) == [0, 1, 2, 3]
    assert list(gdata.SequentialSampler(3, start=5)) == [5, 6, 7]
    gp.random.seed(0)
    order = list(gdata.RandomSampler(10))
    assert sorted(order) == list(range(10)) and len(gdata.RandomSampler(10)) == 10
    batches = list(gdata.BatchSampler(gdata.SequentialSampler(7), 3, "keep"))
    assert batches == [[0, 1, 2], [3, 4, 5], [6]]
    assert all(isinstance(i, int) for b in batches for i in b)
    assert len(gdata.BatchSampler(gdata.SequentialSampler(7), 3, "discard")) == 2
    # Any iterable of indices works as a sampler.
    assert list(gdata.BatchSampler([4, 2, 0], 2)) == [[4, 2], [0]]


def test_custom_sampler_and_batch_sampler():
    ds = gdata.ArrayDataset(np.arange(6, dtype=np.float32))
    reverse = gdata.DataLoader(ds, batch_size=4, sampler=[5, 4, 3, 2, 1, 0])
    assert [b.asnumpy().tolist() for b in reverse] == [[5, 4, 3, 2], [1, 0]]
    pairs = gdata.DataLoader(ds, batch_sampler=[[0, 5], [2]])
    assert [b.asnumpy().tolist() for b in pairs] == [[0, 5], [2]]


def test_dataloader_argument_errors():
    ds = gdata.ArrayDataset(np.zeros(4))
    with pytest.raises(ValueError, match="shuffle must be False"):
        gdata.DataLoader(ds, batch_size=2, shuffle=True, sampler=gdata.SequentialSampler(4))
    with pytest.raises(ValueError, match="batch_sampler"):
        gdata.DataLoader(ds, batch_size=2, batch_sampler=[[0]])
    with pytest.raises(ValueError, match="batch_size must be given"):
        gdata.DataLoader(ds)
    with pytest.raises(ValueError, match="positive int"):
        gdata.DataLoader(ds, batch_size=0)


def test_transform():
    ds = gdata.ArrayDataset(np.arange(3, dtype=np.float32), np.arange(3))
    doubled = ds.transform_first(lambda x: x * 2)
    assert [doubled[i] for i in range(3)] == [(0, 0), (2, 1), (4, 2)]
    summed = ds.transform(lambda x, y: x + y, lazy=False)
    assert [summed[i] for i in range(3)] == [0, 2, 4]
    assert len(summed) == 3

"""Parameter files: structural names, atomic writes, loading without pickle into existing arrays,
validation before any change, deferred shapes from the file, ties kept."""
import os

import numpy as np
import pytest

import gpuparams as gp
from gpuparams import init, nd
from gpuparams.gluon import nn
from gpuparams.serialization import ArrayFileError

# Every test here runs under both front ends (nd, np) and also with its HybridBlocks hybridized
# (tests/conftest.py::front_end, ::hybrid_mode).
pytestmark = pytest.mark.usefixtures("front_end", "hybrid_mode")


@pytest.fixture(autouse=True)
def fresh_names():
    with nn.NameManager():
        yield


class Head(nn.Block):
    def __init__(self, **kwargs):
        super().__init__(**kwargs)
        with self.name_scope():
            self.hidden = nn.Dense(3, activation="relu", in_units=4)
            self.out = nn.Dense(2, in_units=3)

    def forward(self, x):
        return self.out(self.hidden(x))


def _model(deferred=False):
    """Dense -> shared Dense -> the same Dense's parameters again -> a custom block."""
    units = {} if deferred else {"in_units": 4}
    shared = nn.Dense(4, activation="relu", **units)
    net = nn.Sequential()
    net.add(nn.Dense(4, activation="relu", **({} if deferred else {"in_units": 3})), shared,
            nn.Dense(4, activation="relu", params=shared.params, **units), Head())
    return net


STRUCTURAL = ["0.weight", "0.bias", "1.weight", "1.bias", "3.hidden.weight", "3.hidden.bias",
              "3.out.weight", "3.out.bias"]


def _values(net):
    """A model's values keyed by structural name (collect_params lists them in that order)."""
    return {key: p.data().asnumpy().copy() for key, p in zip(STRUCTURAL, net.collect_params().values())}


def _trained(seed=0):
    gp.random.seed(seed)
    net = _model()
    net.initialize(init.Normal(0.3))
    for p in net.collect_params().values():
        init.normal_(p, 0.0, 0.3)  # biases too, so that every entry is distinctive
    return net


def test_save_uses_structural_names_and_writes_a_tied_parameter_under_each_name(tmp_path):
    # MXNet 1.9.1's default (deduplicate=False): one entry per structural name, ties included.
    net = _trained()
    path = tmp_path / "model.params"
    net.save_parameters(str(path))
    with np.load(path, allow_pickle=False) as stored:
        assert sorted(stored.files) == sorted(STRUCTURAL + ["2.weight", "2.bias"])
        np.testing.assert_array_equal(stored["1.weight"], net[2].weight.data().asnumpy())
        np.testing.assert_array_equal(stored["2.weight"], net[2].weight.data().asnumpy())
        np.testing.assert_array_equal(stored["3.hidden.bias"], net[3].hidden.bias.data().asnumpy())
    assert not [f for f in os.listdir(tmp_path) if f != "model.params"]  # no temporary left behind


def test_save_deduplicate_writes_a_tied_parameter_once_under_its_last_name(tmp_path):
    # MXNet 1.9.1 keeps the last structural name of a tied parameter (tests/data records its keys).
    net = _trained()
    path = tmp_path / "dedup.params"
    net.save_parameters(path, deduplicate=True)
    with np.load(path, allow_pickle=False) as stored:
        expected = [k.replace("1.", "2.", 1) if k.startswith("1.") else k for k in STRUCTURAL]
        assert sorted(stored.files) == sorted(expected)
        np.testing.assert_array_equal(stored["2.weight"], net[1].weight.data().asnumpy())
    with pytest.raises(TypeError, match="deduplicate must be True or False"):
        net.save_parameters(path, deduplicate="yes")


@pytest.mark.parametrize("deduplicate", [False, True])
def test_either_file_form_loads_into_a_tied_model_and_keeps_the_tie(tmp_path, ctx, deduplicate):
    source = _trained(seed=3)
    path = tmp_path / "m.params"
    source.save_parameters(path, deduplicate=deduplicate)
    clone = _model()
    clone.initialize(ctx=ctx)
    clone.load_parameters(path, ctx=ctx)
    assert clone[1].weight is clone[2].weight
    x = nd.array(np.linspace(-1, 1, 6).reshape(2, 3))
    np.testing.assert_allclose(clone(x.as_in_context(ctx)).asnumpy(), source(x).asnumpy(), rtol=1e-6)
    for key, p in zip(STRUCTURAL, clone.collect_params().values()):
        np.testing.assert_array_equal(p.data().asnumpy(), _values(source)[key])


def test_a_deduplicated_file_needs_allow_missing_for_an_untied_model(tmp_path):
    # The untied model's "1.*" parameters are not in a deduplicated file (only "2.*" is), as in MXNet.
    source = _trained(seed=4)
    path = tmp_path / "d.params"
    source.save_parameters(path, deduplicate=True)
    untied = nn.Sequential()
    untied.add(nn.Dense(4, activation="relu", in_units=3), nn.Dense(4, activation="relu", in_units=4),
               nn.Dense(4, activation="relu", in_units=4), Head())
    untied.initialize()
    with pytest.raises(ValueError, match=r"missing from the file.*1\.weight"):
        untied.load_parameters(path)
    untied.load_parameters(path, allow_missing=True)
    np.testing.assert_array_equal(untied[2].weight.data().asnumpy(), source[1].weight.data().asnumpy())


@pytest.mark.parametrize("source", ["current", "saved"])
def test_dtype_source_decides_which_dtype_wins_with_cast_dtype(tmp_path, ctx, source):
    wide = _trained(seed=5)
    wide.cast("float64")
    path = tmp_path / "wide.params"
    wide.save_parameters(path)
    narrow = _model()
    narrow.initialize(ctx=ctx)
    with pytest.raises(ValueError, match="dtypes differ"):
        narrow.load_parameters(path, ctx=ctx, dtype_source=source)  # without cast_dtype: refused
    narrow.load_parameters(path, ctx=ctx, cast_dtype=True, dtype_source=source)
    want = "float64" if source == "saved" else "float32"
    for p in narrow.collect_params().values():
        assert p.dtype == want and p.data(ctx).dtype == want
    np.testing.assert_allclose(narrow[0].weight.data(ctx).asnumpy(), wide[0].weight.data().asnumpy(),
                               rtol=1e-7 if source == "saved" else 1e-6)
    assert narrow[1].weight is narrow[2].weight


def test_dtype_source_saved_refuses_a_dtype_no_parameter_can_have_before_changing_anything(tmp_path):
    from gpuparams.serialization import load_arrays, save_arrays
    wide = _trained(seed=5)
    wide.cast("float64")
    path = tmp_path / "wide.params"
    wide.save_parameters(path)
    arrays = load_arrays(path)
    last = sorted(arrays)[-1]
    arrays[last] = arrays[last].astype(np.complex128)  # a dtype gpuparams arrays do not take
    save_arrays(tmp_path / "complex.params", arrays)
    narrow = _trained(seed=1)
    before = {name: (p.dtype, p.data().asnumpy()) for name, p in narrow.collect_params().items()}
    refused = rf"(?s)nothing was changed.*cannot be converted.*{last}.*complex128"
    with pytest.raises(ValueError, match=refused):
        narrow.load_parameters(tmp_path / "complex.params", cast_dtype=True, dtype_source="saved")
    for name, p in narrow.collect_params().items():  # not even the entries before the bad one
        assert p.dtype == before[name][0]
        np.testing.assert_array_equal(p.data().asnumpy(), before[name][1])


def test_dtype_source_must_be_current_or_saved(tmp_path):
    net = _trained()
    path = tmp_path / "m.params"
    net.save_parameters(path)
    with pytest.raises(ValueError, match="dtype_source must be 'current'.*or 'saved'.*'file'"):
        net.load_parameters(path, cast_dtype=True, dtype_source="file")
    with pytest.raises(ValueError, match="dtype_source"):
        net.collect_params().load(path, cast_dtype=True, dtype_source="file")


def test_load_copies_into_existing_arrays_and_keeps_ties(tmp_path):
    source = _trained(seed=1)
    path = tmp_path / "m.params"
    source.save_parameters(path)
    clone = _model()
    clone.initialize()
    arrays = {name: p.data() for name, p in clone.collect_params().items()}
    clone.load_parameters(path)
    for (name, p), expected in zip(clone.collect_params().items(), _values(source).values()):
        assert p.data() is arrays[name]
        np.testing.assert_array_equal(p.data().asnumpy(), expected)
    x = nd.ones((2, 3))
    np.testing.assert_array_equal(clone(x).asnumpy(), source(x).asnumpy())
    assert clone[1].weight is clone[2].weight
    clone[1].weight.data()[0, 0] = 42.0
    assert clone[2].weight.data()[0, 0].asscalar() == 42.0


def test_load_places_parameters_on_the_requested_context(tmp_path, ctx):
    source = _trained(seed=2)
    source.save_parameters(tmp_path / "m.params")
    fresh = _model()  # never initialized: loading initializes it
    fresh.load_parameters(tmp_path / "m.params", ctx=ctx)
    moved = _model()
    moved.initialize(ctx=gp.cpu(0))
    moved.load_parameters(tmp_path / "m.params", ctx=ctx)
    for net in (fresh, moved):
        for p, expected in zip(net.collect_params().values(), _values(source).values()):
            assert p.list_ctx() == [ctx]
            np.testing.assert_array_equal(p.data().asnumpy(), expected)


def test_multi_context_parameters_round_trip(tmp_path):
    net = _trained(seed=3)
    net.reset_ctx([gp.cpu(0), gp.cpu(1)])
    net.save_parameters(tmp_path / "m.params")
    clone = _model()
    clone.initialize(ctx=[gp.cpu(0), gp.cpu(1)])
    clone.load_parameters(tmp_path / "m.params")
    for p, q in zip(clone.collect_params().values(), net.collect_params().values()):
        for a in p.list_data():
            np.testing.assert_array_equal(a.asnumpy(), q.data(gp.cpu(1)).asnumpy())


def test_deferred_model_takes_its_shapes_from_the_file(tmp_path):
    source = _trained(seed=4)
    source.save_parameters(tmp_path / "m.params")
    deferred = _model(deferred=True)
    deferred.initialize(ctx=gp.cpu(1))
    assert deferred[0].weight.shape == (4, 0)
    deferred.load_parameters(tmp_path / "m.params")
    assert deferred[0].weight.shape == (4, 3) and deferred[0].weight.list_ctx() == [gp.cpu(1)]
    assert repr(deferred[1]) == "Dense(4 -> 4, Activation(relu))"
    x = nd.ones((2, 3), ctx=gp.cpu(1))
    np.testing.assert_array_equal(deferred(x).asnumpy(), source(nd.ones((2, 3))).asnumpy())
    never = _model(deferred=True)  # no initialize() at all: the file initializes it
    never.load_parameters(tmp_path / "m.params")
    assert never[2].weight.data().shape == (4, 4)


def test_missing_and_extra_entries(tmp_path):
    small = nn.Sequential()
    small.add(nn.Dense(4, in_units=3))
    small.initialize(init.One())
    small.save_parameters(tmp_path / "small.params")
    big = _trained(seed=5)
    before = _values(big)
    with pytest.raises(ValueError) as info:
        big.load_parameters(tmp_path / "small.params")
    message = str(info.value)
    assert "nothing was changed" in message and "allow_missing=True" in message
    assert "1.weight (shape (4, 4))" in message and "3.out.bias (shape (2,))" in message
    assert "0.weight" not in message
    for name, value in _values(big).items():
        np.testing.assert_array_equal(value, before[name])
    big.load_parameters(tmp_path / "small.params", allow_missing=True)
    np.testing.assert_array_equal(big[0].weight.data().asnumpy(), np.ones((4, 3)))
    np.testing.assert_array_equal(big[1].weight.data().asnumpy(), before["1.weight"])

    big.save_parameters(tmp_path / "big.params")
    with pytest.raises(ValueError, match=r"not in the model \(pass ignore_extra=True.*: 1.weight \(shape "
                                         r"\(4, 4\)\), 1.bias \(shape \(4,\)\)"):
        small.load_parameters(tmp_path / "big.params")
    small.load_parameters(tmp_path / "big.params", ignore_extra=True)
    np.testing.assert_array_equal(small[0].weight.data().asnumpy(), big[0].weight.data().asnumpy())


def test_shape_and_dtype_mismatches_list_names_and_both_shapes_and_change_nothing(tmp_path):
    net = _trained(seed=6)
    before = _values(net)
    stored = dict(before)
    stored["3.out.weight"] = np.zeros((2, 5), np.float32)   # the last entry is wrong:
    stored["1.bias"] = stored["1.bias"].astype(np.float64)  # the first ones must not be loaded either
    np.savez(tmp_path / "bad.npz", **{k: v * 2 for k, v in stored.items()})
    with pytest.raises(ValueError) as info:
        net.load_parameters(tmp_path / "bad.npz")
    message = str(info.value)
    assert "3.out.weight: model (2, 3) vs file (2, 5)" in message
    assert "1.bias: model float32 vs file float64" in message and "cast_dtype=True" in message
    for name, value in _values(net).items():
        np.testing.assert_array_equal(value, before[name])
    stored["3.out.weight"] = np.ones((2, 3), np.float32)
    np.savez(tmp_path / "cast.npz", **stored)
    net.load_parameters(tmp_path / "cast.npz", cast_dtype=True)
    assert net[1].bias.data().dtype == np.float32
    np.testing.assert_array_equal(net[3].out.weight.data().asnumpy(), np.ones((2, 3)))


def test_conflicting_values_for_one_tied_parameter(tmp_path):
    untied = nn.Sequential()
    untied.add(*(nn.Dense(4, in_units=u) for u in (3, 4, 4)))
    untied.initialize(init.Normal(1.0))
    untied.save_parameters(tmp_path / "untied.params")
    shared = nn.Dense(4, in_units=4)
    tied = nn.Sequential()
    tied.add(nn.Dense(4, in_units=3), shared, nn.Dense(4, in_units=4, params=shared.params))
    tied.initialize()
    with pytest.raises(ValueError, match=r"1.weight and 2.weight \(one tied parameter, different values\)"):
        tied.load_parameters(tmp_path / "untied.params")


@pytest.mark.parametrize("damage", ["garbage", "truncated"])
def test_corrupt_file_raises_clearly_and_leaves_model_untouched(tmp_path, damage):
    net = _trained(seed=7)
    path = tmp_path / "m.params"
    net.save_parameters(path)
    data = path.read_bytes()
    path.write_bytes(b"not a zip file at all" if damage == "garbage" else data[: len(data) // 2])
    before = _values(net)
    for p in net.collect_params().values():
        init.zeros_(p)
    zeros = _values(net)
    message = (r"m.params is not a gpuparams parameter file \(not a zip archive\)$" if damage == "garbage"
               else r"m.params is not a readable .npz array file")
    with pytest.raises(ArrayFileError, match=message):
        net.load_parameters(path)
    for name, value in _values(net).items():
        np.testing.assert_array_equal(value, zeros[name])
    assert any(v.any() for v in before.values())
    with pytest.raises(FileNotFoundError, match="no such file"):
        net.load_parameters(tmp_path / "absent.params")


def test_pickled_content_is_refused(tmp_path):
    np.savez(tmp_path / "obj.npz", **{"0.weight": np.array([{"a": 1}], dtype=object)})
    net = nn.Sequential()
    net.add(nn.Dense(1, in_units=1))
    with pytest.raises(ArrayFileError, match="obj.npz"):
        net.load_parameters(tmp_path / "obj.npz")


def test_a_save_killed_mid_write_leaves_the_previous_file_intact(tmp_path, monkeypatch):
    path = tmp_path / "m.params"
    _trained(seed=8).save_parameters(path)
    previous = path.read_bytes()

    real_write = np.lib.format.write_array
    written = []

    def dies_mid_write(fp, array, *args, **kwargs):
        # Every .npz writer goes through write_array per member: let one member through, die in the next.
        if written:
            fp.write(b"\x93NUMPY half of an array")
            raise KeyboardInterrupt("killed")
        written.append(array.shape)
        real_write(fp, array, *args, **kwargs)

    monkeypatch.setattr(np.lib.format, "write_array", dies_mid_write)
    with pytest.raises(KeyboardInterrupt):
        _trained(seed=9).save_parameters(path)
    assert written and path.read_bytes() == previous
    assert os.listdir(tmp_path) == ["m.params"]


def test_saving_an_uninitialized_model_names_the_entry_and_writes_nothing(tmp_path):
    net = _model(deferred=True)
    with pytest.raises(RuntimeError, match=r"cannot save 0.weight: Parameter 'dense1_weight' has not been"):
        net.save_parameters(tmp_path / "m.params")
    net.initialize()
    with pytest.raises(RuntimeError, match=r"cannot save 0.weight: .*one batch"):
        net.save_parameters(tmp_path / "m.params")
    assert os.listdir(tmp_path) == []


def test_parameter_dict_save_and_load_with_prefixes(tmp_path):
    head = Head()
    head.initialize(init.Normal(1.0))
    params = head.collect_params()
    params.save(tmp_path / "full.params")
    params.save(tmp_path / "stripped.params", strip_prefix="head0_")
    with np.load(tmp_path / "stripped.params") as stored:
        assert sorted(stored.files) == ["dense0_bias", "dense0_weight", "dense1_bias", "dense1_weight"]
    with pytest.raises(ValueError, match="cannot strip prefix 'x_' from Parameter 'head0_dense0_weight'"):
        params.save(tmp_path / "x.params", strip_prefix="x_")

    other = Head()  # head1_...: its own names differ from the file's
    other.collect_params().load(tmp_path / "stripped.params", restore_prefix="head1_")
    for p, q in zip(other.collect_params().values(), params.values()):
        np.testing.assert_array_equal(p.data().asnumpy(), q.data().asnumpy())
    with pytest.raises(ValueError, match=r"head1_dense0_weight.*missing.*|missing.*head1_dense0_weight"):
        other.collect_params().load(tmp_path / "stripped.params")
    with pytest.raises(ValueError, match="restore_prefix 'zz_' does not start"):
        other.collect_params().load(tmp_path / "stripped.params", restore_prefix="zz_")

    third = Head()  # Block.load_parameters accepts files of full names too, with or without prefix
    third.load_parameters(tmp_path / "stripped.params")
    np.testing.assert_array_equal(third.out.bias.data().asnumpy(), head.out.bias.data().asnumpy())
    head.load_parameters(tmp_path / "full.params")


# Recorded with MXNet 1.9.1: nn.Dense(2, in_units=1), initialized to 0.5, then save_parameters.
MXNET_PARAMS = os.path.join(os.path.dirname(__file__), "data", "mxnet_1_9_1_dense.params")


def test_an_mxnet_binary_params_file_is_named_as_such_with_the_conversion(tmp_path):
    net = nn.Dense(2, in_units=1)
    net.initialize(init.Constant(0.25))
    with pytest.raises(ArrayFileError, match=r"mxnet_1_9_1_dense.params is an MXNet binary NDArray file"
                                             r".*reads .npz files only.*numpy.savez\('out.npz'.*"
                                             r"mxnet.nd.load\('.*mxnet_1_9_1_dense.params'\)"):
        net.load_parameters(MXNET_PARAMS)
    with pytest.raises(ArrayFileError, match="an MXNet binary NDArray file"):
        nd.load(MXNET_PARAMS)
    np.testing.assert_array_equal(net.weight.data().asnumpy(), np.full((2, 1), 0.25, np.float32))
    # The conversion the message gives, done here with the values MXNet wrote, loads.
    np.savez(tmp_path / "out.npz", **{"weight": np.full((2, 1), 0.5, np.float32),
                                     "bias": np.full((2,), 0.5, np.float32)})
    net.load_parameters(tmp_path / "out.npz")
    np.testing.assert_array_equal(net.weight.data().asnumpy(), np.full((2, 1), 0.5, np.float32))

"""``gpuparams.npx``: set_np/reset_np switching Gluon to np arrays, the npx operators, contexts; and
parameters that print and save identically under both front ends."""
import numpy as onp
import pytest

import gpuparams as gp
from gpuparams import autograd, gluon, init, nd, np, npx
from gpuparams.gluon import data as gdata, loss as gloss, nn


@pytest.fixture(autouse=True)
def _restore_front_end(fresh_names):
    yield
    npx.reset_np()


def test_set_np_and_reset_np_switch_what_gluon_hands_out():
    assert not npx.is_np_array()
    net = nn.Dense(3, in_units=4)
    net.initialize()
    assert type(net.weight.data()) is nd.NDArray
    npx.set_np()
    assert npx.is_np_array() and npx.is_np_shape()
    w = net.weight.data()
    assert type(w) is np.ndarray and type(net.weight.grad()) is np.ndarray
    assert all(type(a) is np.ndarray for a in net.weight.list_data() + net.weight.list_grad())
    out = net(np.ones((2, 4)))
    assert type(out) is np.ndarray and out.shape == (2, 3)
    npx.reset_np()
    assert type(net.weight.data()) is nd.NDArray and net.weight.data() is w  # one object throughout
    with pytest.raises(ValueError, match="shape"):
        npx.set_np(shape=True, array=False)
    with pytest.raises(NotImplementedError):
        npx.set_np(dtype=True)


def test_training_loop_in_np_arrays_matches_the_nd_loop():
    def train(front):
        gp.random.seed(1)
        if front == "np":
            npx.set_np()
            X, y = np.random.normal(size=(40, 3)), np.random.normal(size=(40,))
        else:
            npx.reset_np()
            X, y = nd.random.normal(shape=(40, 3)), nd.random.normal(shape=(40,))
        loader = gdata.DataLoader(gdata.ArrayDataset(X, y), batch_size=8, shuffle=True)
        net = nn.Sequential()
        net.add(nn.Dense(4, activation="relu"), nn.Dense(1))
        net.initialize(init.Xavier())
        trainer = gluon.Trainer(net.collect_params(), "adam", {"learning_rate": 0.05})
        loss = gloss.L2Loss()
        kinds = set()
        for _ in range(2):
            for xb, yb in loader:
                with autograd.record():
                    value = loss(net(xb), yb)
                value.backward()
                trainer.step(8)
                kinds |= {type(xb), type(value), type(net[0].weight.data())}
        final = loss(net(X), y).mean()
        return kinds, final, net[1].weight.data().asnumpy()

    kinds_nd, loss_nd, w_nd = train("nd")
    kinds_np, loss_np, w_np = train("np")
    assert kinds_nd == {nd.NDArray} and kinds_np == {np.ndarray}
    assert loss_nd.shape == (1,) and loss_np.shape == ()  # each front end's reduction rule
    onp.testing.assert_allclose(w_np, w_nd, rtol=1e-6)
    onp.testing.assert_allclose(float(loss_np), float(loss_nd), rtol=1e-6)


def test_parameters_print_and_save_identically_under_both(tmp_path):
    texts, files = {}, {}
    for front in ("nd", "np"):
        npx.set_np() if front == "np" else npx.reset_np()
        gp.random.seed(3)
        with nn.NameManager():
            net = nn.Sequential()
            net.add(nn.Dense(5, activation="relu"), nn.Dense(2))
            net.initialize()
            net((np if front == "np" else nd).ones((1, 3)))
        texts[front] = "\n".join([str(net[0].weight), str(net.collect_params()), repr(net)])
        path = tmp_path / f"{front}.params"
        net.save_parameters(str(path))
        files[front] = onp.load(path, allow_pickle=False)
        # Loading under the other front end works and hands out that front end's arrays.
        other = nn.Sequential()
        other.add(nn.Dense(5, activation="relu"), nn.Dense(2))
        other.load_parameters(str(path))
        assert type(other[0].weight.data()) is (np.ndarray if front == "np" else nd.NDArray)
    assert texts["nd"] == texts["np"]
    assert sorted(files["nd"].files) == sorted(files["np"].files)
    for key in files["nd"].files:
        onp.testing.assert_array_equal(files["nd"][key], files["np"][key])
        assert files["nd"][key].dtype == files["np"][key].dtype


def test_custom_initializer_receives_np_arrays_under_set_np():
    seen = []

    class Record(init.Initializer):
        def _init_weight(self, name, data):
            seen.append(type(data))
            data[:] = np.full(data.shape, 2.0)

    npx.set_np()
    net = nn.Dense(2, in_units=3)
    net.initialize(Record())
    assert seen == [np.ndarray]
    assert (net.weight.data() == 2).asnumpy().all()


def test_npx_operators(ctx):
    x = np.array([[1.0, -2.0, 3.0], [-1.0, 0.5, 2.0]], ctx=ctx)
    xs = x.asnumpy().astype(onp.float64)
    onp.testing.assert_allclose(npx.relu(x).asnumpy(), onp.maximum(xs, 0))
    onp.testing.assert_allclose(npx.sigmoid(x).asnumpy(), 1 / (1 + onp.exp(-xs)), rtol=1e-6)
    e = onp.exp(xs - xs.max(1, keepdims=True))
    onp.testing.assert_allclose(npx.softmax(x).asnumpy(), e / e.sum(1, keepdims=True), rtol=1e-6)
    onp.testing.assert_allclose(npx.log_softmax(x).asnumpy(), onp.log(e / e.sum(1, keepdims=True)),
                                rtol=1e-5)
    onp.testing.assert_allclose(npx.pick(x, np.array([2, 0], ctx=ctx)).asnumpy(), [3.0, -1.0])
    assert npx.one_hot(np.array([2, 0], ctx=ctx), 3).asnumpy().tolist() == [[0, 0, 1], [1, 0, 0]]
    assert npx.topk(x, k=1).asnumpy().tolist() == [[2.0], [2.0]]
    w, b = np.ones((4, 3), ctx=ctx), np.zeros((4,), ctx=ctx)
    onp.testing.assert_allclose(npx.fully_connected(x, w, b, num_hidden=4).asnumpy(), xs @ onp.ones((3, 4)),
                                rtol=1e-6)
    onp.testing.assert_allclose(npx.activation(x, act_type="tanh").asnumpy(), onp.tanh(xs), rtol=1e-6)
    bd = npx.batch_dot(np.ones((2, 2, 3), ctx=ctx), np.ones((2, 3, 1), ctx=ctx))
    assert bd.shape == (2, 2, 1) and (bd.asnumpy() == 3).all()
    for out in (npx.relu(x), npx.softmax(x), npx.pick(x, np.array([2, 0], ctx=ctx)), bd):
        assert type(out) is np.ndarray and out.ctx == ctx


def test_npx_dropout_only_in_training_and_differentiable():
    x = np.ones((200, 50))
    assert npx.dropout(x, p=0.5) is x  # not recording: inference
    x.attach_grad()
    with autograd.record():
        y = npx.dropout(x, p=0.5)
    y.backward()
    kept = y.asnumpy() != 0
    assert 0.4 < kept.mean() < 0.6
    assert set(onp.unique(y.asnumpy())) <= {0.0, 2.0}
    onp.testing.assert_array_equal(x.grad.asnumpy(), kept * 2.0)
    shared = npx.dropout(np.ones((4, 30)), p=0.5, axes=(0,), mode="always").asnumpy()
    assert (shared == shared[0]).all()
    with pytest.raises(ValueError, match="p must be"):
        npx.dropout(x, p=1.5)


def test_npx_contexts_and_use_np():
    assert npx.cpu() == gp.cpu(0) and npx.gpu(1) == gp.gpu(1)
    assert npx.num_gpus() == gp.num_gpus()
    npx.waitall()

    @npx.use_np
    def inside():
        return npx.is_np_array()

    assert inside() is True and npx.is_np_array() is False


def test_npx_save_and_load_round_trip_as_np_arrays(tmp_path):
    # D2L's file I/O with np/npx: npx.save one array, a list, a dict; npx.load gives np arrays back.
    x = np.arange(4)
    npx.save(str(tmp_path / "x-file"), x)
    (x2,) = npx.load(str(tmp_path / "x-file"))
    assert type(x2) is np.ndarray and x2.tolist() == [0.0, 1.0, 2.0, 3.0] and x2.dtype == onp.float32
    y = np.zeros(4, dtype="int32")
    npx.save(str(tmp_path / "x-files"), [x, y])
    x3, y3 = npx.load(str(tmp_path / "x-files"))
    assert (x3 == x).asnumpy().all() and y3.dtype == onp.int32
    npx.save(str(tmp_path / "mydict"), {"x": x, "y": y})
    loaded = npx.load(str(tmp_path / "mydict"))
    assert sorted(loaded) == ["x", "y"] and type(loaded["y"]) is np.ndarray


def test_hybrid_forward_reaches_np_and_npx_through_F():
    class Scaled(nn.HybridBlock):
        def hybrid_forward(self, F, x):
            return F.npx.relu(F.np.sum(x, axis=1, keepdims=True)) * 2

    npx.set_np()
    out = Scaled()(np.array([[1.0, -3.0], [2.0, 0.5]]))
    assert type(out) is np.ndarray and out.tolist() == [[0.0], [5.0]]

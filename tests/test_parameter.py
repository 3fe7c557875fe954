"""Parameter and ParameterDict: per-context data and gradients, deferred shapes, errors, reprs."""
import numpy as np
import pytest

import gpuparams as gp
from gpuparams import autograd, backend, init, nd
from gpuparams.parameter import Constant, DeferredInitializationError, Parameter, ParameterDict

# Every test here runs under both front ends: nd, and np after npx.set_np() (tests/conftest.py).
pytestmark = pytest.mark.usefixtures("front_end")


def _initialized(shape=(2, 3), ctx=None, value=None, **kwargs):
    p = Parameter("w", shape=shape, **kwargs)
    p.initialize(init=init.Constant(1.0) if value is None else init.Constant(value), ctx=ctx)
    return p


# ---------------------------------------------------------------------------------- construction
def test_repr_and_attributes():
    p = Parameter("dense0_weight", shape=(256, 20))
    assert repr(p) == "Parameter dense0_weight (shape=(256, 20), dtype=float32)"
    assert (p.name, p.shape, p.dtype, p.grad_req, p.lr_mult, p.wd_mult) == \
        ("dense0_weight", (256, 20), np.dtype("float32"), "write", 1.0, 1.0)
    q = Parameter("b", shape=7, dtype="float64", grad_req="add", lr_mult=0.5, wd_mult=0.0)
    assert repr(q) == "Parameter b (shape=(7,), dtype=float64)"
    assert (q.grad_req, q.lr_mult, q.wd_mult) == ("add", 0.5, 0.0)
    q.lr_mult, q.wd_mult = 2.0, 3.0
    assert (q.lr_mult, q.wd_mult) == (2.0, 3.0)


def test_unknown_dims_print_as_zero_and_fill_in():
    p = Parameter("dense0_weight", shape=(256, 0), allow_deferred_init=True)
    assert repr(p) == "Parameter dense0_weight (shape=(256, 0), dtype=float32)"
    assert Parameter("m", shape=(3, -1)).shape == (3, 0)  # MXNet's numpy-shape spelling
    p.shape = (256, 20)
    assert p.shape == (256, 20)
    with pytest.raises(ValueError, match=r"dense0_weight.*\(256, 20\).*\(128, 20\)"):
        p.shape = (128, 20)


@pytest.mark.parametrize("kwargs, error, match", [
    ({"shape": (2, -3)}, ValueError, "negative dimension"),
    ({"shape": ()}, ValueError, "at least one dimension"),
    ({"shape": (2.5, 3)}, TypeError, "ints"),
    ({"grad_req": "sometimes"}, ValueError, "grad_req must be"),
    ({"dtype": "complex64"}, TypeError, "complex64 is not supported"),
    ({"init": "no-such-init"}, ValueError, "unknown initializer 'no-such-init'"),
])
def test_bad_arguments_name_the_problem(kwargs, error, match):
    with pytest.raises(error, match=match):
        Parameter("p", **kwargs)


# ---------------------------------------------------------------------------------- initialization
def test_data_before_initialize_names_parameter_and_fix():
    p = Parameter("dense0_weight", shape=(2, 3))
    for call in (p.data, p.list_data, p.grad, p.list_grad, p.list_ctx):
        with pytest.raises(RuntimeError, match=r"'dense0_weight'.*initialize\(\)") as info:
            call()
        assert not isinstance(info.value, DeferredInitializationError)


def test_deferred_error_is_runtime_error_naming_parameter_and_remedy():
    assert gp.DeferredInitializationError is DeferredInitializationError
    assert issubclass(DeferredInitializationError, RuntimeError)
    p = Parameter("dense0_weight", shape=(4, 0), allow_deferred_init=True)
    p.initialize()
    assert p.list_ctx() == [gp.cpu(0)]
    with pytest.raises(DeferredInitializationError, match=r"'dense0_weight'.*one batch.*in_units"):
        p.data()
    p.shape = (4, 5)  # once the shape is known the deferred initialization completes on access
    assert p.data().shape == (4, 5)


def test_unknown_shape_without_deferral_is_refused():
    p = Parameter("w", shape=(3, 0))
    with pytest.raises(ValueError, match=r"'w'.*\(3, 0\).*allow_deferred_init=True"):
        p.initialize()


def test_initialize_on_several_cpu_contexts_gives_identical_copies():
    gp.random.seed(7)
    p = Parameter("w", shape=(3, 4))
    p.initialize(init=init.Normal(1.0), ctx=[gp.cpu(0), gp.cpu(1)])
    assert p.list_ctx() == [gp.cpu(0), gp.cpu(1)]
    a, b = p.list_data()
    assert a is not b and a.context == gp.cpu(0) and b.context == gp.cpu(1)
    np.testing.assert_array_equal(a.asnumpy(), b.asnumpy())
    assert p.data(gp.cpu(1)) is b
    with gp.cpu(1):
        assert p.data() is b  # several copies: data() picks the current context's
    assert [g.context for g in p.list_grad()] == [gp.cpu(0), gp.cpu(1)]
    assert p.grad(gp.cpu(1)) is b.grad
    with pytest.raises(RuntimeError, match=r"'w' is not initialized on cpu\(2\).*cpu\(0\), cpu\(1\)"):
        p.data(gp.cpu(2))
    with pytest.raises(ValueError, match="twice"):
        Parameter("v", shape=(1,)).initialize(ctx=[gp.cpu(0), gp.cpu(0)])


def test_unusable_context_fails_before_anything_changes():
    p = Parameter("w", shape=(2,))
    with backend.emulation(True), pytest.raises(backend.GPUUnavailableError, match=r"gpu\(1\)"):
        p.initialize(ctx=[gp.cpu(0), gp.gpu(1)])
    with pytest.raises(RuntimeError, match="'w' has not been initialized"):
        p.data()


def test_initialize_on_context(ctx):
    p = Parameter("w", shape=(2, 3))
    p.initialize(init=init.One(), ctx=ctx)
    assert p.data().context == ctx and p.grad().context == ctx
    np.testing.assert_array_equal(p.data().asnumpy(), np.ones((2, 3), np.float32))
    np.testing.assert_array_equal(p.grad().asnumpy(), np.zeros((2, 3), np.float32))


def test_second_initialize_warns_and_keeps_values_force_reinit_redraws_in_place():
    p = _initialized(value=2.0)
    first = p.data()
    with pytest.warns(UserWarning, match=r"'w' is already initialized.*force_reinit=True"):
        p.initialize(init=init.Constant(5.0))
    np.testing.assert_array_equal(first.asnumpy(), np.full((2, 3), 2.0))
    first.grad[:] = 3.0
    p.initialize(init=init.Constant(5.0), force_reinit=True)
    assert p.data() is first  # same array: whoever holds it (a Trainer) sees the new values
    np.testing.assert_array_equal(first.asnumpy(), np.full((2, 3), 5.0))
    np.testing.assert_array_equal(first.grad.asnumpy(), np.zeros((2, 3)))


def test_initializer_runs_on_host_and_copies_bit_identical_values_to_context(ctx):
    gp.random.seed(11)
    host = Parameter("w", shape=(5, 4))
    host.initialize(init=init.Xavier(), ctx=gp.cpu(0))
    gp.random.seed(11)
    there = Parameter("w", shape=(5, 4))
    there.initialize(init=init.Xavier(), ctx=ctx)
    assert there.data().asnumpy().tobytes() == host.data().asnumpy().tobytes()


# ---------------------------------------------------------------------------------- gradients
def _loss_grad(p, scale):
    with autograd.record():
        loss = (p.data() * scale).sum()
    loss.backward()


def test_grad_req_write_overwrites_and_add_accumulates():
    p = _initialized()
    _loss_grad(p, 2.0)
    _loss_grad(p, 3.0)
    np.testing.assert_array_equal(p.grad().asnumpy(), np.full((2, 3), 3.0))
    assert p.data()._fresh_grad
    p.grad_req = "add"
    _loss_grad(p, 2.0)
    _loss_grad(p, 3.0)
    np.testing.assert_array_equal(p.grad().asnumpy(), np.full((2, 3), 5.0))
    grad = p.grad()
    p.zero_grad()
    assert p.grad() is grad  # zeroed in place
    np.testing.assert_array_equal(grad.asnumpy(), np.zeros((2, 3)))


def test_grad_req_null_has_no_gradient():
    p = _initialized(grad_req="null")
    with pytest.raises(RuntimeError, match=r"'w' has no gradient because grad_req='null'"):
        p.grad()
    with pytest.raises(RuntimeError, match="grad_req='null'"):
        p.list_grad()
    assert p.data().grad is None
    p.zero_grad()  # nothing to zero, no error
    p.grad_req = "write"
    _loss_grad(p, 4.0)
    np.testing.assert_array_equal(p.grad().asnumpy(), np.full((2, 3), 4.0))
    p.grad_req = "null"
    assert p.data().grad is None


def test_zero_grad_on_every_context():
    p = _initialized(ctx=[gp.cpu(0), gp.cpu(1)])
    for g in p.list_grad():
        g[:] = 7.0
    p.zero_grad()
    for g in p.list_grad():
        np.testing.assert_array_equal(g.asnumpy(), np.zeros((2, 3)))


# ---------------------------------------------------------------------------------- changes
def test_set_data_writes_every_copy_and_works_inside_record():
    p = _initialized(ctx=[gp.cpu(0), gp.cpu(1)])
    arrays = p.list_data()
    with autograd.record():
        p.set_data(p.data(gp.cpu(0)) + 1)
        out = (p.data(gp.cpu(0)) * 3).sum()
    out.backward()
    assert p.list_data() == arrays
    for arr in arrays:
        np.testing.assert_array_equal(arr.asnumpy(), np.full((2, 3), 2.0))
    np.testing.assert_array_equal(p.grad(gp.cpu(0)).asnumpy(), np.full((2, 3), 3.0))
    p.set_data(np.arange(6).reshape(2, 3))
    np.testing.assert_array_equal(p.data(gp.cpu(1)).asnumpy(), np.arange(6).reshape(2, 3))
    p.set_data(0.5)
    np.testing.assert_array_equal(p.data(gp.cpu(1)).asnumpy(), np.full((2, 3), 0.5))
    with pytest.raises(ValueError, match=r"'w': set_data got shape \(3, 2\), expected \(2, 3\)"):
        p.set_data(np.zeros((3, 2)))


def test_set_data_on_other_context(ctx):
    p = _initialized(ctx=ctx)
    p.set_data(nd.array([[1, 2, 3], [4, 5, 6]], ctx=gp.cpu(0)))
    assert p.data().context == ctx
    np.testing.assert_array_equal(p.data().asnumpy(), [[1, 2, 3], [4, 5, 6]])


def test_set_data_fixes_a_deferred_shape():
    p = Parameter("w", shape=(2, 0), allow_deferred_init=True)
    with pytest.raises(RuntimeError, match="initialize"):
        p.set_data(np.ones((2, 5)))
    p.initialize(ctx=gp.cpu(1))
    with pytest.raises(ValueError, match=r"\(3, 5\).*\(2, 0\)"):
        p.set_data(np.ones((3, 5)))
    p.set_data(np.full((2, 5), 4.0))
    assert p.shape == (2, 5) and p.list_ctx() == [gp.cpu(1)]
    np.testing.assert_array_equal(p.data().asnumpy(), np.full((2, 5), 4.0))


def test_reset_ctx_moves_values_and_gives_fresh_gradients():
    p = _initialized(value=3.0)
    p.grad()[:] = 1.0
    p.reset_ctx([gp.cpu(1), gp.cpu(2)])
    assert p.list_ctx() == [gp.cpu(1), gp.cpu(2)]
    for arr in p.list_data():
        np.testing.assert_array_equal(arr.asnumpy(), np.full((2, 3), 3.0))
        np.testing.assert_array_equal(arr.grad.asnumpy(), np.zeros((2, 3)))
    with pytest.raises(RuntimeError, match=r"cannot reset the context of Parameter 'u'"):
        Parameter("u", shape=(1,)).reset_ctx(gp.cpu(0))
    deferred = Parameter("d", shape=(0,), allow_deferred_init=True)
    deferred.initialize()
    deferred.reset_ctx(gp.cpu(3))
    deferred.shape = (4,)
    assert deferred.data().context == gp.cpu(3)


def test_reset_ctx_to_device(ctx):
    p = _initialized(value=3.0)
    p.reset_ctx(ctx)
    assert p.data().context == ctx
    np.testing.assert_array_equal(p.data().asnumpy(), np.full((2, 3), 3.0))


def test_cast_changes_dtype_of_values_and_gradients():
    p = _initialized(value=1.5)
    p.cast("float64")
    assert p.dtype == np.float64 and p.data().dtype == np.float64 and p.grad().dtype == np.float64
    np.testing.assert_array_equal(p.data().asnumpy(), np.full((2, 3), 1.5))


# ---------------------------------------------------------------------------------- Constant
def test_constant_has_fixed_value_and_no_gradient():
    c = Constant("c", [[1, 2], [3, 4]])
    assert repr(c) == "Constant c (shape=(2, 2), dtype=float32)"
    assert c.grad_req == "null"
    with pytest.warns(UserWarning, match="keeps grad_req='null'"):
        c.grad_req = "write"
    assert c.grad_req == "null"
    c.initialize(default_init=init.Zero())  # its own value beats a default (Block.initialize's)
    np.testing.assert_array_equal(c.data().asnumpy(), [[1, 2], [3, 4]])


# ---------------------------------------------------------------------------------- ParameterDict
def test_parameter_dict_get_creates_or_returns():
    params = ParameterDict("block0_")
    w = params.get("weight", shape=(2, 3))
    assert w.name == "block0_weight" and params.get("weight") is w and params.prefix == "block0_"
    assert params["block0_weight"] is w
    assert list(params) == list(params.keys()) == ["block0_weight"]
    assert list(params.values()) == [w] and list(params.items()) == [("block0_weight", w)]
    assert "block0_weight" in params and "weight" not in params and len(params) == 1
    with pytest.raises(KeyError, match=r"'weight'.*full names.*'block0_weight'"):
        params["weight"]
    with pytest.raises(TypeError, match="unknown Parameter argument 'colour'"):
        params.get("weight", colour="red")


def test_parameter_dict_get_merges_unknown_dims_and_rejects_conflicts():
    params = ParameterDict("p_")
    w = params.get("w", shape=(4, 0), allow_deferred_init=True)
    assert params.get("w", shape=(0, 3)) is w and w.shape == (4, 3)
    assert params.get("w", shape=(4, 3), dtype="float32", init=None) is w
    with pytest.raises(ValueError, match=r"'p_w'.*shape \(4, 3\).*requested shape \(5, 3\)"):
        params.get("w", shape=(5, 3))
    with pytest.raises(ValueError, match=r"'p_w'.*shape \(4, 3\).*\(4, 3, 1\)"):
        params.get("w", shape=(4, 3, 1))
    with pytest.raises(ValueError, match="dtype float32, not float64"):
        params.get("w", dtype="float64")
    params.get("w", init="zeros")
    assert w.init == "zeros"
    with pytest.raises(ValueError, match=r"init='zeros'.*init='ones'"):
        params.get("w", init="ones")


def test_parameter_dict_get_accepts_alike_initializers():
    params = ParameterDict("p_")
    w = params.get("w", shape=(2, 2), init=init.Xavier())
    assert params.get("w", init=init.Xavier()) is w  # another instance, same configuration
    with pytest.raises(ValueError, match=r"init=Xavier\(.*magnitude=3\).*magnitude=2"):
        params.get("w", init=init.Xavier(magnitude=2))


def test_parameter_dict_shared_lookup():
    base = ParameterDict("dense0_")
    w = base.get("weight", shape=(2, 2))
    tied = ParameterDict("dense0_", shared=base)
    assert tied.get("weight") is w and list(tied) == ["dense0_weight"]
    with pytest.raises(TypeError, match="ParameterDict"):
        ParameterDict("x_", shared={"a": w})


def test_parameter_dict_repr_with_and_without_prefix():
    params = ParameterDict("dense0_")
    params.get("weight", shape=(256, 20))
    params.get("bias", shape=(256,))
    assert repr(params) == ("dense0_ (\n"
                            "  Parameter dense0_weight (shape=(256, 20), dtype=float32)\n"
                            "  Parameter dense0_bias (shape=(256,), dtype=float32)\n"
                            ")")
    bare = ParameterDict()
    bare.get("param2", shape=(2, 3))
    assert repr(bare) == "(\n  Parameter param2 (shape=(2, 3), dtype=float32)\n)"


def test_parameter_dict_bulk_operations():
    params = ParameterDict("n_")
    a = params.get("a", shape=(2,))
    b = params.get("b", shape=(3,), init="ones")
    params.initialize(init=init.Constant(4.0), ctx=[gp.cpu(0), gp.cpu(1)])
    np.testing.assert_array_equal(a.data(gp.cpu(1)).asnumpy(), [4.0, 4.0])
    np.testing.assert_array_equal(b.data(gp.cpu(0)).asnumpy(), [1.0, 1.0, 1.0])
    assert params.list_ctx() == [gp.cpu(0), gp.cpu(1)]
    with pytest.warns(UserWarning) as record:
        params.initialize()
    assert sorted(str(w.message).split("'")[1] for w in record) == ["n_a", "n_b"]
    for p in params.values():
        for g in p.list_grad():
            g[:] = 1.0
    params.zero_grad()
    assert all(not g.asnumpy().any() for p in params.values() for g in p.list_grad())
    params.setattr("grad_req", "null")
    params.setattr("lr_mult", 0.1)
    assert a.grad_req == b.grad_req == "null" and a.lr_mult == b.lr_mult == 0.1
    params.reset_ctx(gp.cpu(2))
    assert a.list_ctx() == b.list_ctx() == [gp.cpu(2)]


def test_parameter_dict_update_refuses_two_objects_with_one_name():
    one, two = ParameterDict("x_"), ParameterDict("x_")
    one.get("w", shape=(1,))
    two.get("w", shape=(1,))
    merged = ParameterDict("m_")
    merged.update(one)
    merged.update(one)  # the same object again is fine
    with pytest.raises(ValueError, match=r"two different Parameters are both named 'x_w'"):
        merged.update(two)


def test_get_constant():
    params = ParameterDict("f_")
    c = params.get_constant("rand", np.ones((2, 2)))
    assert isinstance(c, Constant) and params.get_constant("rand") is c
    assert params.get_constant("rand", np.ones((2, 2))) is c
    with pytest.raises(ValueError, match="another value"):
        params.get_constant("rand", np.zeros((2, 2)))
    with pytest.raises(KeyError, match="pass value"):
        params.get_constant("missing")

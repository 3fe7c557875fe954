"""autograd: recording state, heads, accumulation, graph lifetime, and misuse errors (issue 2, item 5)."""
import threading

import numpy as np
import pytest

import gpuparams as gp
from gpuparams import autograd, nd
from gpuparams.autograd import AutogradError
from gpuparams.ops._core import result


# ------------------------------------------------------------------------------------------ state
def test_default_state():
    assert not autograd.is_recording() and not autograd.is_training()


def test_record_pause_train_predict_scopes_nest_and_restore():
    with autograd.record():
        assert autograd.is_recording() and autograd.is_training()
        with autograd.pause():
            assert not autograd.is_recording() and not autograd.is_training()
            with autograd.train_mode():
                assert not autograd.is_recording() and autograd.is_training()
            assert not autograd.is_training()
        with autograd.pause(train_mode=True):
            assert not autograd.is_recording() and autograd.is_training()
        with autograd.predict_mode():
            assert autograd.is_recording() and not autograd.is_training()
        assert autograd.is_recording() and autograd.is_training()
    with autograd.record(train_mode=False):
        assert autograd.is_recording() and not autograd.is_training()
    with autograd.train_mode():
        assert autograd.is_training() and not autograd.is_recording()
    assert not autograd.is_recording() and not autograd.is_training()


def test_scopes_restore_after_an_exception():
    with pytest.raises(KeyError):
        with autograd.record():
            raise KeyError("x")
    assert not autograd.is_recording() and not autograd.is_training()


def test_set_recording_and_set_training_return_the_previous_value():
    assert autograd.set_recording(True) is False
    try:
        assert autograd.is_recording()
        assert autograd.set_recording(False) is True
        assert autograd.set_training(True) is False
        assert autograd.set_training(False) is True
    finally:
        autograd.set_recording(False)
        autograd.set_training(False)


def test_recording_state_is_per_thread():
    seen = []
    with autograd.record():
        t = threading.Thread(target=lambda: seen.append((autograd.is_recording(), autograd.is_training())))
        t.start()
        t.join(5)
    assert seen == [(False, False)]


def test_operations_are_recorded_only_inside_record_and_not_inside_pause(ctx):
    x = nd.array([1.0, 2.0], ctx=ctx)
    x.attach_grad()
    y = x * 2
    with autograd.record():
        z = x * 2
        with autograd.pause():
            w = x * 2
    assert z._node is not None
    assert y._node is None and w._node is None
    with pytest.raises(AutogradError):
        w.backward()


def test_constants_are_not_recorded(ctx):
    a = nd.array([1.0, 2.0], ctx=ctx)  # no attach_grad
    with autograd.record():
        b = a * 3
    assert b._node is None


# ------------------------------------------------------------------------------------------ gradients
def test_design_example(ctx):
    x = nd.array([1.0, 2.0], ctx=ctx)
    x.attach_grad()
    with autograd.record():
        y = (x * x).sum()
    y.backward()
    assert x.grad.asnumpy().tolist() == [2.0, 4.0]
    assert x.grad.context is ctx and x.grad.dtype == np.float32


def test_non_scalar_head_uses_a_gradient_of_ones(ctx):
    x = nd.array([[1.0, 2.0], [3.0, 4.0]], ctx=ctx)
    x.attach_grad()
    with autograd.record():
        y = x * x  # shape (2, 2)
    y.backward()
    np.testing.assert_array_equal(x.grad.asnumpy(), 2 * x.asnumpy())


def test_explicit_head_gradient(ctx):
    x = nd.array([1.0, 2.0, 3.0], ctx=ctx)
    x.attach_grad()
    head = nd.array([1.0, 10.0, 100.0], ctx=ctx)
    with autograd.record():
        y = x * x
    y.backward(head)
    assert x.grad.asnumpy().tolist() == [2.0, 40.0, 600.0]
    with autograd.record():
        y = x * 3
    y.backward(head=head)
    assert x.grad.asnumpy().tolist() == [3.0, 30.0, 300.0]
    with autograd.record():
        y = x * 3
    autograd.backward(y, head)
    assert x.grad.asnumpy().tolist() == [3.0, 30.0, 300.0]
    with autograd.record():
        y = x * 4
    autograd.backward(y, [head])  # one head, its gradient in a list (MXNet accepts both)
    assert x.grad.asnumpy().tolist() == [4.0, 40.0, 400.0]


def test_head_gradient_errors(ctx):
    x = nd.array([1.0, 2.0], ctx=ctx)
    x.attach_grad()
    with autograd.record():
        y = x * 2
    with pytest.raises(ValueError, match=r"\(3,\).*\(2,\)"):
        y.backward(nd.ones((3,), ctx=ctx))
    with pytest.raises(ValueError) as info:
        y.backward(nd.ones((2,), ctx=gp.cpu(3)))
    assert "cpu(3)" in str(info.value) and str(ctx) in str(info.value) and "as_in_context" in str(info.value)
    with pytest.raises(ValueError, match="2 heads but 1"):
        autograd.backward([y, y], [None])


def test_backward_of_several_heads_sums_them(ctx):
    x = nd.array([1.0, 2.0], ctx=ctx)
    x.attach_grad()
    with autograd.record():
        y1 = (x * x).sum()
        y2 = x * 3
    autograd.backward([y1, y2])
    assert x.grad.asnumpy().tolist() == [5.0, 7.0]
    with autograd.record():
        y1 = (x * x).sum()
        y2 = x * 3
    autograd.backward([y1, y2], [nd.array([2.0], ctx=ctx), None])
    assert x.grad.asnumpy().tolist() == [7.0, 11.0]


def test_heads_sharing_a_subgraph(ctx):
    x = nd.array([0.5, -1.0], ctx=ctx)
    x.attach_grad()
    with autograd.record():
        h = x.exp()
        y1 = h * 2
        y2 = h * h
    autograd.backward([y1, y2])
    e = np.exp(np.array([0.5, -1.0]))
    np.testing.assert_allclose(x.grad.asnumpy(), 2 * e + 2 * e * e, rtol=1e-6)


def test_a_value_used_several_times_gets_the_sum(ctx):
    x = nd.array([2.0, 3.0], ctx=ctx)
    x.attach_grad()
    with autograd.record():
        y = (x * x + x + x.exp() * 0).sum() + nd.dot(x, x) + x[0] * 4
    y.backward()
    # d/dx [sum(x^2 + x) + x.x + 4 x0] = 2x + 1 + 2x + [4, 0]
    assert x.grad.asnumpy().tolist() == [4 * 2 + 1 + 4, 4 * 3 + 1]
    with autograd.record():
        z = x * x + nd.dot(x, x)  # (2,) + (1,): the (1,) term is broadcast, so used twice
    z.backward()
    assert x.grad.asnumpy().tolist() == [2 * 2 + 2 * 2 * 2, 2 * 3 + 2 * 2 * 3]


def test_tied_use_of_a_weight_in_two_layers(ctx):
    w = nd.array([[0.5, -1.0], [2.0, 0.25]], ctx=ctx)
    x = nd.array([[1.0, 2.0]], ctx=ctx)
    w.attach_grad()
    with autograd.record():
        h = nd.dot(x, w.T)
        y = nd.dot(h, w.T).sum()
    y.backward()
    W, X = w.asnumpy().astype(np.float64), x.asnumpy().astype(np.float64)
    # y = sum(X W^T W^T) ; dy/dW = (1 X W^T)^T-ish: compute with the product rule by hand
    ones = np.ones((1, 2))
    want = (ones.T @ (X @ W.T)) + ((ones @ W).T @ X)
    np.testing.assert_allclose(w.grad.asnumpy(), want, rtol=1e-6)


def test_broadcast_operands_get_gradients_of_their_own_shape(ctx):
    x = nd.ones((3, 4), ctx=ctx)
    b = nd.array([1.0, 2.0, 3.0, 4.0], ctx=ctx)
    c = nd.array([[2.0], [3.0], [4.0]], ctx=ctx)
    for a in (x, b, c):
        a.attach_grad()
    with autograd.record():
        y = x * b + c
    y.backward()
    assert b.grad.shape == (4,) and b.grad.asnumpy().tolist() == [3.0] * 4
    assert c.grad.shape == (3, 1) and c.grad.asnumpy().tolist() == [[4.0]] * 3
    np.testing.assert_array_equal(x.grad.asnumpy(), np.tile([1.0, 2.0, 3.0, 4.0], (3, 1)))


def test_grad_req_write_overwrites_and_add_accumulates(ctx):
    for req, second in (("write", [2.0, 4.0]), ("add", [4.0, 8.0])):
        x = nd.array([1.0, 2.0], ctx=ctx)
        x.attach_grad(grad_req=req)
        for _ in range(2):
            with autograd.record():
                y = (x * x).sum()
            y.backward()
        assert x.grad.asnumpy().tolist() == second, req


def test_grad_req_add_accumulates_across_different_graphs_and_keeps_the_buffer(ctx):
    x = nd.array([1.0, 2.0], ctx=ctx)
    x.attach_grad(grad_req="add")
    buffer = x.grad
    with autograd.record():
        y = x * 3
    y.backward()
    with autograd.record():
        y = x.exp().sum()
    y.backward()
    assert x.grad is buffer
    np.testing.assert_allclose(x.grad.asnumpy(), 3 + np.exp([1.0, 2.0]), rtol=1e-6)
    x.grad[:] = 0  # users zero the buffer by hand between steps
    with autograd.record():
        y = x * 5
    y.backward()
    assert x.grad.asnumpy().tolist() == [5.0, 5.0]


def test_attach_grad_arguments(ctx):
    x = nd.ones((2,), ctx=ctx)
    assert x.grad is None
    x.attach_grad()
    assert x.grad.shape == (2,) and x.grad.asnumpy().tolist() == [0.0, 0.0]
    with pytest.raises(ValueError, match="grad_req"):
        x.attach_grad(grad_req="sum")
    x.attach_grad(grad_req="null")
    assert x.grad is None
    with autograd.record():
        y = x * 2
    with pytest.raises(AutogradError):
        y.backward()


def test_gradients_flow_back_across_contexts(ctx):
    x = nd.array([1.0, 2.0, 3.0], ctx=ctx)
    x.attach_grad()
    with autograd.record():
        on_cpu1 = x.as_in_context(gp.cpu(1))
        y = (on_cpu1 * on_cpu1).sum()
        z = (y.as_in_context(ctx) + x.sum()) * 2
    assert on_cpu1.context is gp.cpu(1) and y.context is gp.cpu(1) and z.context is ctx
    z.backward()
    assert x.grad.context is ctx
    assert x.grad.asnumpy().tolist() == [2 * (2 * 1 + 1), 2 * (2 * 2 + 1), 2 * (2 * 3 + 1)]


def test_backward_from_another_context_reaches_the_leaf(ctx):
    w = nd.array([[1.0, 2.0]], ctx=ctx)
    w.attach_grad()
    with autograd.record():
        loss = nd.dot(w.as_in_context(gp.cpu(1)), nd.array([[3.0], [4.0]], ctx=gp.cpu(1))).sum()
    loss.backward()
    assert w.grad.asnumpy().tolist() == [[3.0, 4.0]]


def test_retain_graph_allows_a_second_backward(ctx):
    x = nd.array([1.0, 2.0], ctx=ctx)
    x.attach_grad(grad_req="add")
    with autograd.record():
        y = (x * x * x).sum()
    y.backward(retain_graph=True)
    y.backward(retain_graph=True)
    assert x.grad.asnumpy().tolist() == [6.0, 24.0]
    y.backward()  # frees the graph
    assert x.grad.asnumpy().tolist() == [9.0, 36.0]
    with pytest.raises(AutogradError, match="retain_graph=True"):
        y.backward()


def test_second_backward_through_a_freed_graph_is_refused(ctx):
    x = nd.array([1.0, 2.0], ctx=ctx)
    x.attach_grad()
    with autograd.record():
        h = x.exp()
        y1 = h.sum()
        y2 = (h * 2).sum()
    y1.backward()
    with pytest.raises(AutogradError) as info:
        y1.backward()
    assert "already freed" in str(info.value) and "retain_graph=True" in str(info.value)
    with pytest.raises(AutogradError, match="already freed"):
        y2.backward()  # reaches the shared node 'exp', freed by the first backward


def test_backward_on_an_unrecorded_value_is_refused(ctx):
    x = nd.array([1.0, 2.0], ctx=ctx)
    with autograd.record():
        y = (x * 2).sum()  # x has no gradient attached
    with pytest.raises(AutogradError) as info:
        y.backward()
    assert "autograd.record()" in str(info.value) and "attach_grad()" in str(info.value)
    w = nd.array([1.0], ctx=ctx)
    w.attach_grad()
    z = w * 2  # computed outside record()
    with pytest.raises(AutogradError):
        z.backward()
    assert issubclass(AutogradError, RuntimeError)


def test_detach_cuts_the_graph(ctx):
    x = nd.array([1.0, 2.0], ctx=ctx)
    x.attach_grad()
    with autograd.record():
        y = x * x
        z = (y.detach() * x).sum()  # d/dx = y (constant) only
    z.backward()
    assert x.grad.asnumpy().tolist() == [1.0, 4.0]


def test_attach_grad_on_an_intermediate_makes_it_a_leaf(ctx):
    x = nd.array([1.0, 2.0], ctx=ctx)
    x.attach_grad()
    with autograd.record():
        y = x * 3
    y.attach_grad()
    with autograd.record():
        z = (y * y).sum()
    z.backward()
    assert y.grad.asnumpy().tolist() == [6.0, 12.0]
    assert x.grad.asnumpy().tolist() == [0.0, 0.0]


def test_leaf_as_its_own_head(ctx):
    x = nd.array([1.0, 2.0], ctx=ctx)
    x.attach_grad()
    x.backward()
    assert x.grad.asnumpy().tolist() == [1.0, 1.0]


def test_power_with_a_scalar_base_keeps_the_gradient_dtype(ctx):
    # 2 ** x: the exponent's gradient uses log(2); it must stay float32 on its way back through the
    # graph (NumPy's log of a Python number is a float64 scalar that would upcast it; CuPy refuses it).
    seen = []
    x = nd.array([1.0, 2.0], ctx=ctx)
    x.attach_grad()

    def probe(a):
        def backward(g, needs):
            seen.append(g.dtype)
            return (g,)
        return result(a._data.copy(), a._ctx, "probe", (a,), backward, saved=())

    with autograd.record():
        y = (2 ** probe(x)).sum()
    y.backward()
    assert seen == [np.float32]
    np.testing.assert_allclose(x.grad.asnumpy(), np.log(2) * 2 ** np.array([1.0, 2.0]), rtol=1e-6)


# ------------------------------------------------------------------------------------------ in-place
def test_in_place_write_to_an_input_that_backward_needs_is_detected(ctx):
    for write in (lambda a: a.__setitem__(slice(None), 0), lambda a: a.__iadd__(1),
                  lambda a: a.__imul__(2), lambda a: a.__setitem__((0,), 5)):
        x = nd.array([1.0, 2.0], ctx=ctx)
        x.attach_grad()
        with autograd.record():
            y = (x * x).sum()
            write(x)
        with pytest.raises(AutogradError) as info:
            y.backward()
        assert "modified in place" in str(info.value) and "multiply" in str(info.value)


def test_in_place_write_to_a_constant_operand_is_detected(ctx):
    w = nd.array([1.0, 2.0], ctx=ctx)
    w.attach_grad()
    c = nd.array([3.0, 4.0], ctx=ctx)  # no gradient, but w's gradient reads it
    with autograd.record():
        y = (w * c).sum()
        c[:] = 0
    with pytest.raises(AutogradError, match="modified in place"):
        y.backward()


def test_in_place_write_to_a_recorded_result_is_refused_at_once(ctx):
    x = nd.array([1.0, 2.0], ctx=ctx)
    x.attach_grad()
    with autograd.record():
        y = x.exp()
        for write in (lambda: y.__setitem__(slice(None), 0), lambda: y.__iadd__(1),
                      lambda: y.__itruediv__(2), lambda: nd.ones((2,), ctx=ctx).copyto(y)):
            with pytest.raises(RuntimeError, match="in-place write.*'exp'"):
                write()
    y.backward()  # nothing was changed
    np.testing.assert_allclose(x.grad.asnumpy(), np.exp([1.0, 2.0]), rtol=1e-6)


VIEW_WRITES = [
    pytest.param(lambda y: y.detach(), id="detach"),
    pytest.param(lambda y: y.reshape((-1,)), id="reshape"),
    pytest.param(lambda y: y[0:1], id="slice"),
    pytest.param(lambda y: y.T, id="T"),
]


@pytest.mark.parametrize("view", VIEW_WRITES)
@pytest.mark.parametrize("op", [
    pytest.param(lambda x: x.exp(), id="exp"), pytest.param(lambda x: x.sigmoid(), id="sigmoid"),
    pytest.param(lambda x: x.tanh(), id="tanh"), pytest.param(lambda x: x.sqrt(), id="sqrt"),
    pytest.param(lambda x: nd.relu(x), id="relu"), pytest.param(lambda x: nd.softmax(x), id="softmax"),
    pytest.param(lambda x: nd.log_softmax(x), id="log_softmax"), pytest.param(lambda x: 1 / x, id="rdiv"),
    pytest.param(lambda x: 2 ** x, id="rpow"), pytest.param(lambda x: x.max(axis=0, keepdims=True), id="max"),
    pytest.param(lambda x: nd.dense(x, x, None, activation="relu"), id="dense-relu"),  # NumPy path (float64)
])
def test_write_through_a_view_of_a_result_that_backward_reads_is_detected(ctx, view, op):
    x = nd.array([[1.0, 2.0], [3.0, 4.0]], ctx=ctx, dtype="float64")
    x.attach_grad()
    with autograd.record():
        y = op(x)
    with autograd.pause():
        alias = view(y)  # outside record: a plain view of y's buffer
    alias[:] = 0.5
    with pytest.raises(AutogradError, match="modified in place"):
        y.backward()


def test_write_after_backward_is_allowed(ctx):
    x = nd.array([1.0, 2.0], ctx=ctx)
    x.attach_grad()
    with autograd.record():
        y = x.exp()
    y.backward()
    y[:] = 0  # the graph is freed: nothing needs y any more
    x[:] = 5
    assert y.asnumpy().tolist() == [0.0, 0.0]


def test_in_place_writes_outside_the_saved_arrays_are_fine(ctx):
    x = nd.array([1.0, 2.0], ctx=ctx)
    x.attach_grad()
    other = nd.zeros((2,), ctx=ctx)
    with autograd.record():
        y = (x + 1).sum()  # add does not read x's values in backward
        x[:] = 10
        other += 3
    y.backward()
    assert x.grad.asnumpy().tolist() == [1.0, 1.0]

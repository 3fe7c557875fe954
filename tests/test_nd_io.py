"""nd.save / nd.load and NDArray.norm (used by the D2L file-I/O and model-construction chapters)."""
import numpy as np
import pytest

import gpuparams as gp
from gpuparams import autograd, nd
from gpuparams.serialization import ArrayFileError


def test_save_load_single_list_and_dict(tmp_path, ctx):
    x = nd.arange(4, ctx=ctx)
    y = nd.zeros(4, ctx=ctx)
    nd.save(str(tmp_path / "x"), x)
    (x2,) = nd.load(str(tmp_path / "x"))
    assert x2.context == gp.cpu(0) and x2.asnumpy().tolist() == [0, 1, 2, 3]
    nd.save(str(tmp_path / "xy"), [x, y])
    a, b = nd.load(str(tmp_path / "xy"), ctx=ctx)
    assert a.context is ctx and b.asnumpy().tolist() == [0, 0, 0, 0]
    nd.save(str(tmp_path / "d"), {"x": x, "y": y})
    d = nd.load(str(tmp_path / "d"))
    assert sorted(d) == ["x", "y"] and d["x"].asnumpy().tolist() == [0, 1, 2, 3]


def test_save_refuses_non_arrays_and_load_refuses_garbage(tmp_path):
    with pytest.raises(TypeError, match="item 1"):
        nd.save(str(tmp_path / "bad"), [nd.ones(2), np.ones(2)])
    with pytest.raises(TypeError, match="keys must be strings"):
        nd.save(str(tmp_path / "bad"), {1: nd.ones(2)})
    (tmp_path / "junk").write_bytes(b"not a zip file")
    with pytest.raises(ArrayFileError):
        nd.load(str(tmp_path / "junk"))


def test_norm_value_and_gradient():
    data = np.array([[3.0, -4.0], [0.0, 12.0]])
    x = nd.array(data, dtype="float64")
    x.attach_grad()
    with autograd.record():
        n = x.norm()
    n.backward()
    assert n.shape == (1,) and n.asscalar() == pytest.approx(13.0)
    np.testing.assert_allclose(x.grad.asnumpy(), data / 13.0, rtol=1e-12)

"""D2L "6.2 Parameter Management" in its np/npx form (ja.d2l.ai 6.2 / d2l.ai's MXNet tab) runs with
only its imports changed, and prints what MXNet 1.9.1 printed for the same cells
(tests/data/mxnet_1_9_1_d2l_6_2_np.json, recorded by tests/data/notebook_cells.py).

Cells that print freshly drawn random values (our generator is not MXNet's) are compared with every
number masked, so their structure, shapes and formatting still have to match; every other cell must
match character for character."""
import json
import os
import re
import sys

import pytest

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, os.path.join(HERE, "data"))
import notebook_cells  # noqa: E402

with open(os.path.join(HERE, "data", "mxnet_1_9_1_d2l_6_2_np.json")) as f:
    REFERENCE = json.load(f)

RANDOM_CELLS = {0, 6, 9, 11, 12, 13}  # net(X), rgnet(X), Normal, Xavier, MyInit, MyInit + 1
_NUMBER = re.compile(r"-?\d+\.?\d*(?:e[-+]\d+)?")


def _masked(text):
    # Padding depends on the values' widths, so whitespace goes too.
    return "".join(_NUMBER.sub("#", text).split())


@pytest.fixture(scope="module")
def cells():
    from gpuparams import npx, nn
    try:
        with nn.NameManager():
            yield notebook_cells.run_cells(os.path.join(HERE, "data", "d2l_ja_6_2_parameters_np.py"),
                                           "gpuparams")
    finally:
        npx.reset_np()


@pytest.mark.parametrize("i", range(len(REFERENCE["cells"])))
def test_cell_prints_what_mxnet_printed(cells, i):
    expected = REFERENCE["cells"][i].replace("mxnet.gluon.parameter.Parameter",
                                             "gpuparams.parameter.Parameter")
    assert len(cells) == len(REFERENCE["cells"])
    if i in RANDOM_CELLS:
        assert _masked(cells[i]) == _masked(expected)
    else:
        assert cells[i] == expected


def test_random_cells_hold_the_values_the_code_asks_for(cells):
    import numpy as np
    xavier_row, constant = cells[11].split("\n")[:2]
    assert constant == "[[42. 42. 42. 42. 42. 42. 42. 42.]]"
    mine = np.array(_NUMBER.findall(cells[12].split("\n", 2)[2]), dtype=float)
    assert ((mine == 0) | (np.abs(mine) >= 5)).all() and (np.abs(mine) <= 10).all()  # MyInit's rule
    assert cells[13].startswith("array([42.")

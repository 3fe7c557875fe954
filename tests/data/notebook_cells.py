"""Run a chapter's code the way Jupyter runs its cells, for tests and for recording references.

``run_cells(path, package)`` executes the ``# %%``-separated cells of ``path`` in one namespace, with
``mxnet`` replaced by ``package`` in the import lines only, and returns each cell's output: what it
printed, then the ``repr`` of its last expression (Jupyter's display). Re-record the MXNet 1.9.1
reference with ``/work/mxvenv/bin/python tests/data/notebook_cells.py`` (writes
``tests/data/mxnet_1_9_1_d2l_6_2_np.json``).
"""
import ast
import contextlib
import io
import json
import os
import sys


def _swap_imports(source, package):
    lines = []
    for line in source.splitlines():
        if line.startswith("from mxnet") or line.startswith("import mxnet"):
            line = line.replace("mxnet", package, 1)
        lines.append(line)
    return "\n".join(lines)


def run_cells(path, package):
    with open(path) as f:
        source = _swap_imports(f.read(), package)
    namespace = {"__name__": "__chapter__"}
    outputs = []
    for cell in source.split("\n# %%\n"):
        tree = ast.parse(cell)
        last = tree.body[-1] if tree.body and isinstance(tree.body[-1], ast.Expr) else None
        if last is not None:
            tree.body.pop()
        buffer = io.StringIO()
        with contextlib.redirect_stdout(buffer):
            exec(compile(tree, path, "exec"), namespace)
            if last is not None:
                value = eval(compile(ast.Expression(last.value), path, "eval"), namespace)
                if value is not None:
                    print(repr(value))
        outputs.append(buffer.getvalue())
    return outputs


if __name__ == "__main__":
    here = os.path.dirname(os.path.abspath(__file__))
    import mxnet
    result = {"mxnet": mxnet.__version__, "python": sys.version.split()[0],
              "cells": run_cells(os.path.join(here, "d2l_ja_6_2_parameters_np.py"), "mxnet")}
    with open(os.path.join(here, "mxnet_1_9_1_d2l_6_2_np.json"), "w") as f:
        json.dump(result, f, indent=1)
        f.write("\n")

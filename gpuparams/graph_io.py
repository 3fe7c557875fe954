"""Exported graphs: ``HybridBlock.export(path, epoch)`` and ``gluon.SymbolBlock.imports``.

``export`` writes the most recently traced plan of a hybridized block as two files:

``<path>-symbol.json``
    A JSON object::

        {"format": "gpuparams-graph", "version": 1,
         "inputs": ["data"],                       # one name per NDArray input, in call order
         "params": {"dense0_weight": {"shape": [3, 4], "dtype": "float32"}, ...},
         "consts": {"__const_0": {"shape": [...], "dtype": "..."}},   # arrays made in hybrid_forward
         "nodes": [{"op": "dense", "args": [ARG, ...], "kwargs": {"name": ARG}, "outputs": 1}, ...],
         "outputs": OUT}

    Each node is one registered operator (its ``nd`` name) called with ``args``/``kwargs``; a plan
    that calls an ``autograd.Function`` (user Python code) is refused with
    :class:`~gpuparams.errors.GraphFormatError`. An ARG is
    a JSON number, string, boolean, null or list, or one of the tagged objects
    ``{"input": i}``, ``{"param": name}``, ``{"const": name}``, ``{"node": k, "output": j}``
    (output ``j`` of node ``k < `` this node), ``{"tuple": [ARG, ...]}`` and ``{"dtype": "float32"}``.
    OUT is an ARG, or a list/``{"tuple": ...}`` of them. Shapes computed in Python from input shapes
    (``x.shape[0]``) are stored as numbers, so use shape-free operators (``F.flatten``) for a graph
    that accepts any batch size; the built-in layers do.

``<path>-<epoch:04d>.params.npz``
    The parameters by full name (``ParameterDict.save`` format) plus the constants under their
    ``__const_<n>`` names; written atomically, loaded without pickle.

MXNet writes a ``-symbol.json`` of its own layout and a binary ``.params``; those are not read here
(:class:`~gpuparams.errors.GraphFormatError` says so).
"""
from __future__ import annotations

import difflib
import json
import os
from collections import OrderedDict

import numpy as np

from .errors import GraphFormatError
from ._ndarray import NDArray, from_data
from .nn.block import HybridBlock
from .parameter import ParameterDict
from .serialization import atomic_write, load_arrays, save_arrays

__all__ = ["export_block", "SymbolBlock", "FORMAT", "VERSION"]

FORMAT = "gpuparams-graph"
VERSION = 1


# ----------------------------------------------------------------------------- writing
def _encode(value, refs, where):
    if isinstance(value, NDArray):
        raise AssertionError("NDArray arguments are filled from slots")  # pragma: no cover
    if value is None or isinstance(value, (bool, str)):
        return value
    if isinstance(value, (int, float, np.integer, np.floating)):
        return value.item() if isinstance(value, np.generic) else value
    if isinstance(value, tuple):
        return {"tuple": [_encode(v, refs, where) for v in value]}
    if isinstance(value, list):
        return [_encode(v, refs, where) for v in value]
    if isinstance(value, np.dtype) or (isinstance(value, type) and issubclass(value, np.generic)):
        return {"dtype": np.dtype(value).name}
    raise GraphFormatError(f"export: {where} has an argument of type {type(value).__name__} that the "
                           "graph format cannot store (numbers, strings, tuples, lists, dtypes)")


def export_block(block, path, epoch=0):
    """Write ``block``'s latest traced plan and its parameters; returns the two file names."""
    plans = getattr(block, "_plans", None)
    if not getattr(block, "_active", False) or not plans:
        raise RuntimeError(f"export: {block.name} has no traced graph; call {type(block).__name__}"
                           ".hybridize() and run it once on an input before export()")
    plan = next(reversed(plans.values()))
    from .graph import function_calls
    calls = function_calls(plan)
    if calls:
        k = plan.steps.index(calls[0])
        raise GraphFormatError(
            f"export: {block.name} cannot be exported: node {k} is a call of autograd.Function "
            f"{calls[0].function.__name__!r} ({calls[0].qualname}), whose forward and backward are "
            "user Python code that the graph format cannot store; write that computation with "
            "registered operators (F.*) to export it, or save only the parameters "
            "(save_parameters) and rebuild the block in Python")
    refs = {}
    for position, (_, slot) in enumerate(plan.input_slots):
        refs[slot] = {"input": position}
    params = OrderedDict()
    arrays = OrderedDict()
    for slot, param, ctx in plan.params:
        refs[slot] = {"param": param.name}
        data = param.data(ctx).asnumpy()
        params[param.name] = {"shape": list(data.shape), "dtype": data.dtype.name}
        arrays[param.name] = data
    consts = OrderedDict()
    for n, (slot, value) in enumerate(plan.consts):
        key = f"__const_{n}"
        refs[slot] = {"const": key}
        data = value.asnumpy()
        consts[key] = {"shape": list(data.shape), "dtype": data.dtype.name}
        arrays[key] = data
    nodes = []
    for k, step in enumerate(plan.steps):
        where = f"node {k} ({step.name})"
        args = [_encode(a, refs, where) if a is not None else None for a in step.args]
        kwargs = {key: _encode(v, refs, where) for key, v in step.kwargs.items()}
        for pos in step.seq_args:
            target = args if type(pos) is int else kwargs
            target[pos] = [_encode(v, refs, where) for v in (step.args[pos] if type(pos) is int
                                                                  else step.kwargs[pos])]
        for pos, index, slot in step.fills:
            target = args if type(pos) is int else kwargs
            if index is None:
                target[pos] = refs[slot]
            else:
                target[pos][index] = refs[slot]
        for pos, kind in step.seq_args.items():
            target = args if type(pos) is int else kwargs
            if kind is tuple:
                target[pos] = {"tuple": target[pos]}
        outs = step.outs
        if type(outs) is int:
            refs[outs] = {"node": k, "output": 0}
            count = 1
        else:
            for j, slot in enumerate(outs):
                refs[slot] = {"node": k, "output": j}
            count = len(outs)
        nodes.append({"op": step.name, "args": args, "kwargs": kwargs,
                      "outputs": count if type(outs) is int else [count]})
    graph = {"format": FORMAT, "version": VERSION,
             "inputs": ["data" if i == 0 else f"data{i}" for i in range(len(plan.input_slots))],
             "params": params, "consts": consts, "nodes": nodes,
             "outputs": _encode_output(plan.output, refs)}
    path = os.fspath(path)
    symbol_file = f"{path}-symbol.json"
    param_file = f"{path}-{int(epoch):04d}.params.npz"
    text = json.dumps(graph, indent=1).encode()
    atomic_write(symbol_file, lambda f: f.write(text), suffix=".json")
    save_arrays(param_file, arrays)
    return symbol_file, param_file


def _encode_output(spec, refs):
    kind = spec[0]
    if kind == "slot":
        return refs[spec[1]]
    if kind == "const":
        return spec[1]
    items = [_encode_output(s, refs) for s in spec[1]]
    return {"tuple": items} if kind == "tuple" else items


# ----------------------------------------------------------------------------- reading
def _fail(path, message):
    raise GraphFormatError(f"{path}: {message}")


def _read_graph(path):
    try:
        with open(path, encoding="utf-8") as f:
            text = f.read()
    except FileNotFoundError:
        raise FileNotFoundError(f"SymbolBlock.imports: no such graph file: {path}") from None
    try:
        graph = json.loads(text)
    except json.JSONDecodeError as exc:
        _fail(path, f"not valid JSON ({exc.msg} at line {exc.lineno}, column {exc.colno})")
    if not isinstance(graph, dict):
        _fail(path, f"expected a JSON object, got {type(graph).__name__}")
    if graph.get("format") != FORMAT:
        if "nodes" in graph and "arg_nodes" in graph:
            _fail(path, "this is an MXNet symbol file; gpuparams reads graphs written by "
                        "gpuparams' HybridBlock.export() (export the model again with gpuparams)")
        _fail(path, f"'format' must be {FORMAT!r}, got {graph.get('format')!r}")
    if graph.get("version") != VERSION:
        _fail(path, f"unsupported version {graph.get('version')!r}; this gpuparams reads version {VERSION}")
    for key, kind in (("inputs", list), ("params", dict), ("consts", dict), ("nodes", list)):
        if not isinstance(graph.get(key), kind):
            _fail(path, f"{key!r} must be a JSON {'array' if kind is list else 'object'}")
    if "outputs" not in graph:
        _fail(path, "'outputs' is missing")
    _check_nodes(path, graph)
    return graph


def _check_nodes(path, graph):
    from .ops import REGISTRY

    n_inputs = len(graph["inputs"])
    counts = []

    def check(value, where):
        if isinstance(value, list):
            for v in value:
                check(v, where)
        elif isinstance(value, dict):
            if len(value) == 1 and "tuple" in value:
                check(value["tuple"], where)
            elif set(value) == {"dtype"}:
                if not isinstance(value["dtype"], str):
                    _fail(path, f"{where}: dtype must be a string")
            elif set(value) == {"input"}:
                if not isinstance(value["input"], int) or not 0 <= value["input"] < n_inputs:
                    _fail(path, f"{where}: input {value['input']!r} does not exist ({n_inputs} inputs)")
            elif set(value) == {"param"}:
                if value["param"] not in graph["params"]:
                    _fail(path, f"{where}: parameter {value['param']!r} is not listed in 'params'")
            elif set(value) == {"const"}:
                if value["const"] not in graph["consts"]:
                    _fail(path, f"{where}: constant {value['const']!r} is not listed in 'consts'")
            elif set(value) == {"node", "output"}:
                k, j = value["node"], value["output"]
                if not isinstance(k, int) or not 0 <= k < len(counts):
                    _fail(path, f"{where}: refers to node {k!r}, which is not an earlier node")
                if not isinstance(j, int) or not 0 <= j < counts[k]:
                    _fail(path, f"{where}: node {k} has no output {j!r}")
            else:
                _fail(path, f"{where}: unknown argument object with keys {sorted(value)}")

    for k, node in enumerate(graph["nodes"]):
        if not isinstance(node, dict) or not isinstance(node.get("op"), str):
            _fail(path, f"node {k} must be an object with a string 'op'")
        name = node["op"]
        if name not in REGISTRY:
            close = difflib.get_close_matches(name, list(REGISTRY), n=3)
            hint = f"; did you mean {', '.join(map(repr, close))}?" if close else ""
            _fail(path, f"node {k}: unknown operator {name!r}{hint}")
        if not isinstance(node.get("args", []), list) or not isinstance(node.get("kwargs", {}), dict):
            _fail(path, f"node {k} ({name}): 'args' must be an array and 'kwargs' an object")
        check(node.get("args", []), f"node {k} ({name})")
        for value in node.get("kwargs", {}).values():
            check(value, f"node {k} ({name})")
        outputs = node.get("outputs", 1)
        if isinstance(outputs, list) and len(outputs) == 1 and isinstance(outputs[0], int):
            counts.append(outputs[0])
        elif isinstance(outputs, int) and outputs == 1:
            counts.append(1)
        else:
            _fail(path, f"node {k} ({name}): 'outputs' must be 1 or [n]")
    check(graph["outputs"], "outputs")


def _decode(value, env):
    if isinstance(value, list):
        return [_decode(v, env) for v in value]
    if isinstance(value, dict):
        if "tuple" in value:
            return tuple(_decode(v, env) for v in value["tuple"])
        if "dtype" in value:
            return np.dtype(value["dtype"])
        if "input" in value:
            return env["inputs"][value["input"]]
        if "param" in value:
            return env["params"][value["param"]]
        if "const" in value:
            return env["consts"][value["const"]]
        out = env["nodes"][value["node"]]
        return out if isinstance(out, NDArray) else out[value["output"]]
    return value


class SymbolBlock(HybridBlock):
    """A block that runs a graph written by :meth:`HybridBlock.export` (MXNet's
    ``gluon.SymbolBlock``); build it with :meth:`imports`. It can be hybridized like any other.

    Its parameters keep the names they had in the exported model (``dense0_weight``).
    """

    def __init__(self, graph, input_names, prefix=None):
        super().__init__(prefix=prefix, params=ParameterDict(""))
        self._graph = graph
        self._input_names = list(input_names)
        self._const_data = {}
        for name, spec in graph["params"].items():
            self.params.get(name, shape=tuple(spec["shape"]), dtype=spec["dtype"])

    @staticmethod
    def imports(symbol_file, input_names, param_file=None, ctx=None, allow_missing=False,
                ignore_extra=False):
        """Load a graph written by ``export`` into a runnable block.

        Parameters
        ----------
        symbol_file : str
            The ``-symbol.json`` file.
        input_names : str or list of str
            One name per graph input (as many as the exported block took).
        param_file : str, optional
            The ``.params.npz`` file; without it the parameters stay uninitialized.
        ctx : Context or list of Context, optional
            Where to put the parameters (default: the current context).
        allow_missing, ignore_extra : bool
            Accept a parameter file lacking some parameters / holding more arrays.

        Raises
        ------
        GraphFormatError
            Malformed JSON, an unknown operator, a dangling reference, a wrong input count.
        """
        symbol_file = os.fspath(symbol_file)
        graph = _read_graph(symbol_file)
        names = [input_names] if isinstance(input_names, str) else list(input_names)
        if len(names) != len(graph["inputs"]):
            _fail(symbol_file, f"the graph takes {len(graph['inputs'])} inputs "
                               f"({graph['inputs']}) but input_names has {len(names)}: {names}")
        block = SymbolBlock(graph, names)
        if param_file is not None:
            block._load(os.fspath(param_file), ctx, allow_missing, ignore_extra)
        return block

    def _load(self, param_file, ctx, allow_missing, ignore_extra):
        arrays = load_arrays(param_file)
        graph = self._graph
        missing = [n for n in graph["params"] if n not in arrays]
        missing += [n for n in graph["consts"] if n not in arrays]
        extra = [n for n in arrays if n not in graph["params"] and n not in graph["consts"]]
        if (missing and not allow_missing) or (extra and not ignore_extra):
            parts = []
            if missing:
                parts.append(f"missing {missing} (pass allow_missing=True to leave them uninitialized)")
            if extra:
                parts.append(f"unexpected {extra} (pass ignore_extra=True to skip them)")
            raise ValueError(f"SymbolBlock.imports: {param_file} does not match the graph: "
                             + "; ".join(parts))
        for name, spec in graph["params"].items():
            if name not in arrays:
                continue
            value = arrays[name]
            if list(value.shape) != spec["shape"] or value.dtype.name != spec["dtype"]:
                raise ValueError(f"SymbolBlock.imports: {param_file}: {name} is {value.dtype.name} "
                                 f"{value.shape} but the graph expects {spec['dtype']} "
                                 f"{tuple(spec['shape'])}")
        for name in graph["params"]:
            if name in arrays:
                p = self.params[name]
                p.initialize(init="zeros", ctx=ctx, force_reinit=True)  # then overwritten
                p.set_data(arrays[name])
        self._const_host = {n: arrays[n] for n in graph["consts"] if n in arrays}

    def _plain_forward(self, *inputs):
        from .ops import REGISTRY

        if len(inputs) != len(self._input_names):
            raise TypeError(f"{self.name}: the graph takes {len(self._input_names)} inputs "
                            f"{self._input_names}, got {len(inputs)}")
        ctx = inputs[0].context
        consts = self._const_data.get(ctx)
        if consts is None:
            consts = {n: from_data(v, ctx=ctx) for n, v in getattr(self, "_const_host", {}).items()}
            self._const_data[ctx] = consts
        env = {"inputs": inputs, "consts": consts, "nodes": [],
               "params": {n: self.params[n].data(ctx) for n in self._graph["params"]}}
        for node in self._graph["nodes"]:
            op = REGISTRY[node["op"]]
            args = _decode(node.get("args", []), env)
            kwargs = {key: _decode(v, env) for key, v in node.get("kwargs", {}).items()}
            env["nodes"].append(op.dispatch(*args, **kwargs))
        return _decode(self._graph["outputs"], env)

    def forward(self, *inputs):
        if self._active:
            return super().forward(*inputs)
        return self._plain_forward(*inputs)

    def __repr__(self):
        ops = ", ".join(node["op"] for node in self._graph["nodes"])
        return f"SymbolBlock({', '.join(self._input_names)} -> [{ops}])"

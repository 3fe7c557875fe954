"""Matrix products: ``dot`` (1-D, 2-D, N-D as MXNet), ``batch_dot``, and NumPy's ``matmul`` and
``einsum`` (which the ``gpuparams.np`` front end needs)."""
from __future__ import annotations

import numpy as np

from ._core import ShapeError, contiguous, result, same_context, unbroadcast, xp_of
from ._registry import register

__all__ = ["dot", "batch_dot", "matmul", "einsum"]


def _maybe_t(data, flag):
    if not flag:
        return data
    if data.ndim == 1:
        return data
    if data.ndim == 2:
        return data.T
    # MXNet's dot transposes an N-D operand by reversing all its axes.
    return data.transpose()


def _check_dot(a, b, transpose_a, transpose_b):
    ctx = same_context("dot", a, b)
    ad, bd = _maybe_t(a._data, transpose_a), _maybe_t(b._data, transpose_b)
    if ad.shape[-1] != bd.shape[0]:
        raise ShapeError(f"dot: shapes {a.shape} and {b.shape} do not align "
                         f"(transpose_a={transpose_a}, transpose_b={transpose_b}): "
                         f"{ad.shape[-1]} != {bd.shape[0]}")
    return ctx, ad, bd


# ---------------------------------------------------------------------------------------------------
# The kernel paths: our GEMM kernels (backend.dense_launch.gemm), never cuBLAS, so that a CUDA graph
# can capture them.


def _gemm_grads(gemm, g, sa, sb, fa, fb, needs):
    """Gradients of the stored operands of ``C = op(A)·op(B)`` (``op`` transposes when ``fa`` /
    ``fb``), each one GEMM whose flags keep every operand in its stored layout."""
    ga = gb = None
    if needs[0]:
        # dA = g·op(B)ᵀ, stored as A is: transposed once more where A is.
        ga = gemm(sb, g, fb, True) if fa else gemm(g, sb, False, not fb)
    if needs[1]:
        # dB = op(A)ᵀ·g, stored as B is.
        gb = gemm(g, sa, True, fa) if fb else gemm(sa, g, not fa, False)
    return ga, gb


def _kernel_gemm(dev):
    from ..backend import kernels

    def gemm(x, y, tx, ty):
        return kernels.gemm(dev, x, y, tx, ty)
    return gemm


def _dot_operand(data, flag, first):
    """``(stored 2-D C-contiguous matrix, transpose flag, logical shape)`` of one dot operand: 2-D
    operands keep their layout (the flag goes to the kernel), a 1-D one is a row (``a``) or a
    column (``b``), an N-D one is made contiguous in its (transposed) logical layout and flattened
    around the contracted axis."""
    if data.ndim == 2:
        return contiguous(data), flag, (data.shape[::-1] if flag else data.shape)
    if data.ndim == 1:
        return contiguous(data).reshape((1, -1) if first else (-1, 1)), False, data.shape
    logical = contiguous(_maybe_t(data, flag))
    k = logical.shape[-1] if first else logical.shape[0]
    return logical.reshape((-1, k) if first else (k, -1)), False, logical.shape


def _dot_kernel(a, b, transpose_a=False, transpose_b=False):
    """:func:`dot` on a device with our kernels, float32 operands: one GEMM launch forward and one
    per needed gradient backward (N-D operands are flattened to matrices around the contracted
    axis; a transposed N-D operand is copied into its reversed-axes layout first)."""
    if b._data.dtype != np.float32:
        return _dot_numpy(a, b, transpose_a, transpose_b)
    ctx, ad, bd = _check_dot(a, b, transpose_a, transpose_b)
    sa, fa, _ = _dot_operand(a._data, transpose_a, True)
    sb, fb, _ = _dot_operand(b._data, transpose_b, False)
    from ..backend import device_of
    gemm = _kernel_gemm(device_of(a))
    out_shape = ad.shape[:-1] + bd.shape[1:]
    out = gemm(sa, sb, fa, fb).reshape(out_shape)
    a_shape, b_shape = a.shape, b.shape
    nd_a, nd_b = a.ndim > 2, b.ndim > 2
    rows, cols = (sa.shape[1] if fa else sa.shape[0]), (sb.shape[0] if fb else sb.shape[1])

    def backward(g, needs):
        g2 = contiguous(g.reshape(rows, cols))
        if g2.dtype != np.float32:
            g2 = g2.astype(np.float32)
        ga, gb = _gemm_grads(gemm, g2, sa, sb, fa, fb, needs)
        # N-D operands: the gradient of the (transposed) logical layout, transposed back.
        if ga is not None:
            ga = _maybe_t(ga.reshape(ad_shape), transpose_a) if nd_a else ga.reshape(a_shape)
        if gb is not None:
            gb = _maybe_t(gb.reshape(bd_shape), transpose_b) if nd_b else gb.reshape(b_shape)
        return ga, gb
    ad_shape, bd_shape = ad.shape, bd.shape
    if a.ndim <= 2 and b.ndim <= 2:
        graph_backward = _dot_graph_backward(a, b, transpose_a, transpose_b)
    else:
        graph_backward = _no_graph_backward("dot of arrays with more than 2 dimensions")
    return result(out, ctx, "dot", (a, b), backward, saved=(a, b), graph_backward=graph_backward)


def _dot_numpy(a, b, transpose_a=False, transpose_b=False):
    ctx, ad, bd = _check_dot(a, b, transpose_a, transpose_b)
    xp = xp_of(ad)
    out = xp.tensordot(ad, bd, axes=1) if ad.ndim > 2 or bd.ndim > 2 else xp.dot(ad, bd)
    a_lead, b_rest = ad.ndim - 1, bd.ndim - 1

    if ad.ndim <= 2 and bd.ndim <= 2:
        graph_backward = _dot_graph_backward(a, b, transpose_a, transpose_b)
    else:
        graph_backward = _no_graph_backward("dot of arrays with more than 2 dimensions")
    if ad.ndim == 2 and bd.ndim == 2:
        def backward(g, needs):
            # The common case, kept free of tensordot's Python-level overhead.
            ga = (g @ bd.T if not transpose_a else bd @ g.T) if needs[0] else None
            gb = (ad.T @ g if not transpose_b else g.T @ ad) if needs[1] else None
            return ga, gb
        return result(out, ctx, "dot", (a, b), backward, saved=(a, b), graph_backward=graph_backward)

    def backward(g, needs):
        ga = gb = None
        if needs[0]:
            # dA[i.., k] = sum_j g[i.., j..] * B[k, j..]
            ga = xp.tensordot(g, bd, axes=(tuple(range(a_lead, a_lead + b_rest)), tuple(range(1, bd.ndim))))
            ga = ga.reshape(ad.shape)
            ga = _maybe_t(ga, transpose_a)
        if needs[1]:
            gb = xp.tensordot(ad, g, axes=(tuple(range(a_lead)), tuple(range(a_lead))))
            gb = gb.reshape(bd.shape)
            gb = _maybe_t(gb, transpose_b)
        return ga, gb
    return result(out, ctx, "dot", (a, b), backward, saved=(a, b), graph_backward=graph_backward)


@register(method=True, higher_order=True, kernel=_dot_kernel)
def dot(a, b, transpose_a=False, transpose_b=False):
    """Matrix product. 1-D·1-D is the inner product; N-D arrays contract ``a``'s last axis with
    ``b``'s first (MXNet's rule); ``transpose_a/b`` transpose the operands first.

    On a device with our kernels (a GPU or the emulated ``gpu(0)``) float32 products run our GEMM
    kernels, forward and backward, never cuBLAS; other dtypes and ``cpu`` run NumPy / CuPy.
    """
    return _dot_numpy(a, b, transpose_a, transpose_b)


def _dot_graph_backward(a, b, transpose_a, transpose_b):
    """dot's backward with recorded operators, for 1-D and 2-D operands: a 1-D ``a`` is a row
    ``(1, k)`` and a 1-D ``b`` a column ``(k, 1)`` (transposing a 1-D operand changes nothing), then
    the 2-D rules ``dA' = g·B'ᵀ``, ``dB' = A'ᵀ·g`` with the transposes folded into ``dot``'s flags."""
    ta, tb = transpose_a and a.ndim == 2, transpose_b and b.ndim == 2

    def graph_backward(g, out, needs):
        from .shape import reshape
        a2 = a if a.ndim == 2 else reshape(a, (1, a.shape[0]))
        b2 = b if b.ndim == 2 else reshape(b, (b.shape[0], 1))
        rows = a2.shape[1] if ta else a2.shape[0]
        cols = b2.shape[0] if tb else b2.shape[1]
        g2 = reshape(g, (rows, cols))
        ga = gb = None
        if needs[0]:
            ga = dot(b2, g2, transpose_a=tb, transpose_b=True) if ta else dot(g2, b2, transpose_b=not tb)
            ga = reshape(ga, a.shape)
        if needs[1]:
            gb = dot(g2, a2, transpose_a=True, transpose_b=ta) if tb else dot(a2, g2, transpose_a=not ta)
            gb = reshape(gb, b.shape)
        return ga, gb
    return graph_backward


def _no_graph_backward(what):
    """A graph_backward for a case of a higher-order operator that has none: says which case."""
    from ..errors import AutogradError

    def graph_backward(g, out, needs):
        raise AutogradError(f"autograd.grad(create_graph=True): second derivatives through {what} are "
                            "not supported yet; reshape the operands to 2-D first")
    return graph_backward


def _check_batch_dot(a, b, transpose_a, transpose_b):
    ctx = same_context("batch_dot", a, b)
    ad, bd = a._data, b._data
    if ad.ndim != 3 or bd.ndim != 3:
        raise ShapeError(f"batch_dot: needs two 3-D arrays, got shapes {a.shape} and {b.shape}")
    if transpose_a:
        ad = ad.transpose(0, 2, 1)
    if transpose_b:
        bd = bd.transpose(0, 2, 1)
    if ad.shape[0] != bd.shape[0] or ad.shape[2] != bd.shape[1]:
        raise ShapeError(f"batch_dot: shapes {a.shape} and {b.shape} do not align "
                         f"(transpose_a={transpose_a}, transpose_b={transpose_b})")
    return ctx, ad, bd


def _batch_dot_kernel(a, b, transpose_a=False, transpose_b=False):
    """:func:`batch_dot` on a device with our kernels, float32 operands: one GEMM launch per batch
    item (a loop over the batch; each item is a contiguous slice the kernel reads in its stored
    layout, the transposes passed as flags), forward and per needed gradient backward."""
    if b._data.dtype != np.float32:
        return _batch_dot_numpy(a, b, transpose_a, transpose_b)
    ctx, ad, bd = _check_batch_dot(a, b, transpose_a, transpose_b)
    sa, sb = contiguous(a._data), contiguous(b._data)
    from ..backend import device_of, kernels
    dev = device_of(a)
    batch, n, m = ad.shape[0], ad.shape[1], bd.shape[2]

    def batched(x, y, tx, ty, shape):
        with dev.scope():  # backward runs outside the dispatcher's scope
            res = dev.xp.empty(shape, dtype=np.float32)
            for i in range(shape[0]):
                kernels.gemm(dev, x[i], y[i], tx, ty, out=res[i])
        return res
    out = batched(sa, sb, transpose_a, transpose_b, (batch, n, m))
    a_shape, b_shape = a.shape, b.shape

    def backward(g, needs):
        g3 = contiguous(g)
        ga = gb = None
        if needs[0]:
            ga = (batched(sb, g3, transpose_b, True, a_shape) if transpose_a
                  else batched(g3, sb, False, not transpose_b, a_shape))
        if needs[1]:
            gb = (batched(g3, sa, True, transpose_a, b_shape) if transpose_b
                  else batched(sa, g3, not transpose_a, False, b_shape))
        return ga, gb
    return result(out, ctx, "batch_dot", (a, b), backward, saved=(a, b))


def _batch_dot_numpy(a, b, transpose_a=False, transpose_b=False):
    ctx, ad, bd = _check_batch_dot(a, b, transpose_a, transpose_b)
    xp = xp_of(ad)
    out = xp.matmul(ad, bd)

    def backward(g, needs):
        ga = gb = None
        if needs[0]:
            ga = xp.matmul(g, bd.transpose(0, 2, 1))
            ga = ga.transpose(0, 2, 1) if transpose_a else ga
        if needs[1]:
            gb = xp.matmul(ad.transpose(0, 2, 1), g)
            gb = gb.transpose(0, 2, 1) if transpose_b else gb
        return ga, gb
    return result(out, ctx, "batch_dot", (a, b), backward, saved=(a, b))


@register(kernel=_batch_dot_kernel)
def batch_dot(a, b, transpose_a=False, transpose_b=False):
    """Batched matrix product of ``(B, n, k)`` and ``(B, k, m)`` arrays (``transpose_a/b`` swap the
    last two axes of an operand first).

    On a device with our kernels float32 products run our GEMM kernels (one launch per batch item),
    never cuBLAS; other dtypes and ``cpu`` run NumPy / CuPy.
    """
    return _batch_dot_numpy(a, b, transpose_a, transpose_b)


@register()
def matmul(a, b):
    """NumPy's ``matmul`` of arrays with at least 2 dimensions: a stack of matrix products whose
    leading (batch) axes broadcast. (The ``np`` front end turns 1-D operands into matrices first.)"""
    ctx = same_context("matmul", a, b)
    ad, bd = a._data, b._data
    if ad.ndim < 2 or bd.ndim < 2:
        raise ShapeError(f"matmul: needs operands with at least 2 dimensions, got shapes {a.shape} and "
                         f"{b.shape} (np.matmul handles 1-D ones)")
    if ad.shape[-1] != bd.shape[-2]:
        raise ShapeError(f"matmul: shapes {a.shape} and {b.shape} do not align: {ad.shape[-1]} (last axis "
                         f"of the first) != {bd.shape[-2]} (second-to-last of the second)")
    xp = xp_of(ad)
    try:
        out = xp.matmul(ad, bd)
    except ValueError:
        raise ShapeError(f"matmul: the batch axes of shapes {a.shape} and {b.shape} cannot be broadcast "
                         "together") from None

    def backward(g, needs):
        ga = unbroadcast(xp.matmul(g, xp.swapaxes(bd, -1, -2)), ad.shape) if needs[0] else None
        gb = unbroadcast(xp.matmul(xp.swapaxes(ad, -1, -2), g), bd.shape) if needs[1] else None
        return ga, gb
    return result(out, ctx, "matmul", (a, b), backward, saved=(a, b))


def _parse_einsum(subscripts, operands):
    """``(input subscripts, output subscript)`` of an explicit einsum expression, checked."""
    if not isinstance(subscripts, str) or "->" not in subscripts:
        raise ValueError(f"einsum: subscripts must be an explicit 'ij,jk->ik' string, got {subscripts!r} "
                         "(implicit output and '...' are not supported)")
    lhs, out = subscripts.replace(" ", "").split("->")
    ins = lhs.split(",")
    if len(ins) != len(operands):
        raise ValueError(f"einsum: {subscripts!r} names {len(ins)} operands, {len(operands)} were given")
    for term, x in zip(ins + [out], list(operands) + [None]):
        if "." in term or not term.isalpha():
            raise ValueError(f"einsum: subscript {term!r} must be letters only ('...' is not supported)")
        if len(set(term)) != len(term):
            raise ValueError(f"einsum: subscript {term!r} repeats a letter (traces and diagonals are not "
                             "supported)")
        if x is not None and len(term) != x.ndim:
            raise ValueError(f"einsum: subscript {term!r} has {len(term)} letters for an operand of shape "
                             f"{x.shape}")
    missing = set(out) - set(lhs)
    if missing:
        raise ValueError(f"einsum: output letters {sorted(missing)} appear in no operand")
    return ins, out


@register()
def einsum(subscripts, *operands):
    """Einstein summation over explicit subscripts (``'ij,jk->ik'``), differentiable in every operand.

    Each operand's subscript has distinct letters; ``...`` and implicit outputs are not supported.
    """
    ins, out_term = _parse_einsum(subscripts, operands)
    ctx = operands[0]._ctx
    for x in operands[1:]:
        same_context("einsum", operands[0], x)
    datas = [x._data for x in operands]
    xp = xp_of(datas[0])
    sizes = {}
    for term, d in zip(ins, datas):
        for letter, n in zip(term, d.shape):
            if sizes.setdefault(letter, n) != n:
                raise ShapeError(f"einsum: letter {letter!r} has sizes {sizes[letter]} and {n} in "
                                 f"{subscripts!r}")
    out = xp.einsum(subscripts, *datas)

    def backward(g, needs):
        grads = []
        for i, term in enumerate(ins):
            if not needs[i]:
                grads.append(None)
                continue
            others = [(t, d) for j, (t, d) in enumerate(zip(ins, datas)) if j != i]
            present = set(out_term).union(*(set(t) for t, _ in others))
            # Letters only operand i has were summed over it alone: their gradient is g broadcast.
            kept = "".join(c for c in term if c in present)
            expr = ",".join([out_term] + [t for t, _ in others]) + "->" + kept
            gi = xp.einsum(expr, g, *[d for _, d in others])
            if kept != term:
                gi = gi.reshape([sizes[c] if c in kept else 1 for c in term])
                gi = xp.broadcast_to(gi, datas[i].shape).copy()
            grads.append(gi)
        return tuple(grads)
    return result(out, ctx, "einsum", tuple(operands), backward, saved=tuple(operands))

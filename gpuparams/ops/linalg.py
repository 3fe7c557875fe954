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
    """``gemm(x, y, tx, ty)`` of 2-D stored matrices on ``dev``: one launch of our kernels."""
    from ..backend import kernels

    def gemm(x, y, tx, ty):
        return kernels.gemm(dev, x, y, tx, ty)
    return gemm


def _batch_item(index, shape):
    """Where item ``index`` of a broadcast batch lies in a stack whose batch axes are ``shape``
    (NumPy's broadcasting: missing leading axes and axes of size 1 repeat the one item)."""
    lead = len(index) - len(shape)
    return tuple(0 if size == 1 else i for i, size in zip(index[lead:], shape))


def _kernel_batched_gemm(dev):
    """``gemm(x, y, tx, ty)`` of stacks of stored matrices ``(..., r, c)`` (C-contiguous) on ``dev``:
    the batch axes broadcast, and each item of the broadcast batch is one launch of our kernels on
    2-D views of the stacks in their stored layout, writing its slice of the ``(batch..., n, m)``
    result."""
    from ..backend import kernels

    def gemm(x, y, tx, ty):
        bx, by = x.shape[:-2], y.shape[:-2]
        batch = np.broadcast_shapes(bx, by)
        n = x.shape[-1] if tx else x.shape[-2]
        m = y.shape[-2] if ty else y.shape[-1]
        with dev.scope():  # a backward runs outside the dispatcher's scope
            out = dev.xp.empty(batch + (n, m), dtype=np.float32)
            for index in np.ndindex(*batch):
                kernels.gemm(dev, x[_batch_item(index, bx)], y[_batch_item(index, by)], tx, ty,
                             out=out[index])
        return out
    return gemm


def _gemm_operand(g):
    """A head gradient as the kernels read it: float32 (a head may come in another dtype) and
    C-contiguous."""
    return contiguous(g if g.dtype == np.float32 else g.astype(np.float32))


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
        ga, gb = _gemm_grads(gemm, _gemm_operand(g.reshape(rows, cols)), sa, sb, fa, fb, needs)
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
    ctx = _check_batch_dot(a, b, transpose_a, transpose_b)[0]
    sa, sb = contiguous(a._data), contiguous(b._data)
    from ..backend import device_of
    gemm = _kernel_batched_gemm(device_of(a))
    out = gemm(sa, sb, transpose_a, transpose_b)

    def backward(g, needs):
        return _gemm_grads(gemm, _gemm_operand(g), sa, sb, transpose_a, transpose_b, needs)
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


def _check_matmul(a, b):
    """``(context, broadcast batch shape)`` of ``matmul(a, b)``, checked."""
    ctx = same_context("matmul", a, b)
    if a.ndim < 2 or b.ndim < 2:
        raise ShapeError(f"matmul: needs operands with at least 2 dimensions, got shapes {a.shape} and "
                         f"{b.shape} (np.matmul handles 1-D ones)")
    if a.shape[-1] != b.shape[-2]:
        raise ShapeError(f"matmul: shapes {a.shape} and {b.shape} do not align: {a.shape[-1]} (last axis "
                         f"of the first) != {b.shape[-2]} (second-to-last of the second)")
    try:
        batch = np.broadcast_shapes(a.shape[:-2], b.shape[:-2])
    except ValueError:
        raise ShapeError(f"matmul: the batch axes of shapes {a.shape} and {b.shape} cannot be broadcast "
                         "together") from None
    return ctx, batch


def _stored_matrices(data):
    """``(stack, flag)``: a matmul operand as a C-contiguous stack of stored matrices the kernels
    read, with ``flag`` set when the stack holds the matrices transposed. A C-contiguous operand is
    itself; one whose last two axes are swapped from a C-contiguous array (``x.T`` of a matrix,
    ``swapaxes(x, -1, -2)``) is that array, read transposed by the kernels instead of copied; any
    other layout is copied."""
    if data.flags.c_contiguous:
        return data, False
    xp = xp_of(data)
    swapped = xp.swapaxes(data, -1, -2)
    if swapped.flags.c_contiguous:
        return swapped, True
    return xp.ascontiguousarray(data), False


def _logical(stored, flag):
    """A gradient computed in an operand's stored layout, in the operand's own (logical) layout."""
    return xp_of(stored).swapaxes(stored, -1, -2) if flag else stored


def _matmul_kernel(a, b):
    """:func:`matmul` on a device with our kernels, float32 operands, never cuBLAS.

    When ``b`` is one matrix (no batch axes, or all of size 1) and ``a`` is stored untransposed,
    ``a``'s batch axes fold into the rows: one GEMM launch forward and one per needed gradient.
    Otherwise one launch per item of the broadcast batch (forward and each gradient), and the
    gradient of an operand whose batch axes were broadcast is the per-item gradients summed over
    those axes (``unbroadcast``: a CuPy sum reduction on a GPU, NumPy in the emulator)."""
    if b._data.dtype != np.float32:
        return _matmul_numpy(a, b)
    ctx, batch = _check_matmul(a, b)
    from ..backend import device_of
    dev = device_of(a)
    sa, fa = _stored_matrices(a._data)
    sb, fb = _stored_matrices(b._data)
    a_shape, b_shape = a.shape, b.shape
    n, m = a_shape[-2], b_shape[-1]
    if np.prod(b_shape[:-2], dtype=np.int64) == 1 and (not fa or np.prod(a_shape[:-2], dtype=np.int64) == 1):
        sa2 = sa.reshape(sa.shape[-2:]) if fa else sa.reshape(-1, sa.shape[-1])
        sb2 = sb.reshape(sb.shape[-2:])
        gemm = _kernel_gemm(dev)
        out = gemm(sa2, sb2, fa, fb).reshape(batch + (n, m))

        def backward(g, needs):
            with dev.scope():
                ga, gb = _gemm_grads(gemm, _gemm_operand(g.reshape(-1, m)), sa2, sb2, fa, fb, needs)
                return (None if ga is None else _logical(ga.reshape(sa.shape), fa),
                        None if gb is None else _logical(gb.reshape(sb.shape), fb))
        return result(out, ctx, "matmul", (a, b), backward, saved=(a, b))

    gemm = _kernel_batched_gemm(dev)
    out = gemm(sa, sb, fa, fb)

    def backward(g, needs):
        with dev.scope():
            ga, gb = _gemm_grads(gemm, _gemm_operand(g), sa, sb, fa, fb, needs)
            return (None if ga is None else unbroadcast(_logical(ga, fa), a_shape),
                    None if gb is None else unbroadcast(_logical(gb, fb), b_shape))
    return result(out, ctx, "matmul", (a, b), backward, saved=(a, b))


def _matmul_numpy(a, b):
    ctx = _check_matmul(a, b)[0]
    ad, bd = a._data, b._data
    xp = xp_of(ad)
    out = xp.matmul(ad, bd)

    def backward(g, needs):
        ga = unbroadcast(xp.matmul(g, xp.swapaxes(bd, -1, -2)), ad.shape) if needs[0] else None
        gb = unbroadcast(xp.matmul(xp.swapaxes(ad, -1, -2), g), bd.shape) if needs[1] else None
        return ga, gb
    return result(out, ctx, "matmul", (a, b), backward, saved=(a, b))


@register(kernel=_matmul_kernel)
def matmul(a, b):
    """NumPy's ``matmul`` of arrays with at least 2 dimensions: a stack of matrix products whose
    leading (batch) axes broadcast. (The ``np`` front end turns 1-D operands into matrices first.)

    On a device with our kernels (a GPU or the emulated ``gpu(0)``) float32 products run our GEMM
    kernels, forward and backward, never cuBLAS: one launch when ``b`` is a single matrix, else one
    per item of the broadcast batch; the gradient of a broadcast operand is summed over its
    broadcast axes by a CuPy reduction. Other dtypes and ``cpu`` run NumPy / CuPy.
    """
    return _matmul_numpy(a, b)


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

"""Image transforms of ``gluon.data.vision.transforms``: blocks that map one image (or a batch).

Images are height x width x channel (``HWC``; a batch ``NHWC``) until :class:`ToTensor` makes them
``CHW`` float32 in [0, 1]. The transforms run on the host (they are data preparation); the result is
an NDArray on the input's context. :class:`Resize` follows the arithmetic of OpenCV's ``resize``,
which MXNet uses, so its uint8 output is MXNet's to the grey level.
"""
from __future__ import annotations

import numbers

import numpy as np

from ... import random as _random
from ...context import cpu
from ..._ndarray import NDArray, from_backend, from_data
from ...nn import Block, HybridBlock, Sequential

__all__ = ["Compose", "Cast", "ToTensor", "Normalize", "Resize", "CenterCrop", "RandomFlipLeftRight"]

_INTERPOLATIONS = {0: "nearest", 1: "bilinear"}


def _host(x, who):
    """``(numpy array, context)`` of an NDArray or array-like input."""
    if isinstance(x, NDArray):
        return x.asnumpy(), x.context
    if isinstance(x, np.ndarray):
        return x, cpu(0)
    raise TypeError(f"{who} takes an image NDArray (or NumPy array), got {type(x).__name__}")


def _out(array, ctx):
    return from_backend(np.ascontiguousarray(array), cpu(0)) if ctx == cpu(0) else from_data(array, ctx=ctx)


def _image_ndim(img, who, layout):
    if img.ndim not in (3, 4):
        raise ValueError(f"{who} takes an image of shape {layout} or a batch N x {layout}, got shape "
                         f"{img.shape}")


class Compose(Sequential):
    """Apply ``transforms`` one after another.

    Examples
    --------
    >>> t = Compose([Resize(4), ToTensor(), Normalize(0.5, 0.25)])
    """

    def __init__(self, transforms):
        super().__init__()
        for t in transforms:
            if not callable(t):
                raise TypeError(f"Compose: every transform must be callable, got {type(t).__name__}")
        self._transforms = list(transforms)
        blocks = [t for t in self._transforms if isinstance(t, Block)]
        if blocks:
            self.add(*blocks)

    def forward(self, x, *args):
        for t in self._transforms:
            x = t(x)
        return x


class Cast(HybridBlock):
    """Cast to ``dtype`` (default float32)."""

    def __init__(self, dtype="float32"):
        super().__init__()
        self._dtype = np.dtype(dtype)

    def forward(self, x):
        img, ctx = _host(x, "Cast")
        return _out(img.astype(self._dtype), ctx)


class ToTensor(HybridBlock):
    """``HWC`` (or ``NHWC``) values in [0, 255] -> float32 ``CHW`` (``NCHW``) in [0, 1]: divides by 255
    and moves the channel axis first."""

    def forward(self, x):
        img, ctx = _host(x, "ToTensor")
        _image_ndim(img, "ToTensor", "H x W x C")
        out = img.astype(np.float32) / np.float32(255)
        # transpose, not np.moveaxis: this runs once per example and moveaxis costs more than the math
        return _out(out.transpose((2, 0, 1) if out.ndim == 3 else (0, 3, 1, 2)), ctx)


class Normalize(HybridBlock):
    """``(x[c] - mean[c]) / std[c]`` per channel of a ``CHW`` (or ``NCHW``) tensor.

    Parameters
    ----------
    mean, std : float or sequence of float
        One value for all channels, or one per channel.

    Notes
    -----
    The result has the input's dtype when that is a float type (as in MXNet 1.9.1) and float32 for
    integer images (MXNet truncates the normalized values into the integer dtype).
    """

    def __init__(self, mean=0.0, std=1.0):
        super().__init__()
        self._mean = np.atleast_1d(np.asarray(mean, dtype=np.float32))
        self._std = np.atleast_1d(np.asarray(std, dtype=np.float32))
        if self._mean.ndim != 1 or self._std.ndim != 1:
            raise ValueError("Normalize: mean and std must be numbers or flat sequences")
        if np.any(self._std == 0):
            raise ValueError(f"Normalize: std must not contain 0, got {std!r}")

    def forward(self, x):
        img, ctx = _host(x, "Normalize")
        _image_ndim(img, "Normalize", "C x H x W")
        channels = img.shape[-3]
        for name, v in (("mean", self._mean), ("std", self._std)):
            if v.size not in (1, channels):
                raise ValueError(f"Normalize: {name} has {v.size} values but the input has {channels} "
                                 f"channels (shape {img.shape}); give 1 or {channels}")
        shape = (-1, 1, 1)
        out = (img - self._mean.reshape(shape)) / self._std.reshape(shape)
        # A float input keeps its dtype (float16 after Cast('float16') stays float16), as in MXNet;
        # an integer one gives float32, where MXNet truncates the result into the integer dtype.
        dtype = img.dtype if img.dtype.kind == "f" else np.dtype(np.float32)
        return _out(out.astype(dtype), ctx)


# ----------------------------------------------------------------------------- resizing
def _linear_taps(n_in, n_out, clamp):
    """Source indices and weights of OpenCV's bilinear resize along one axis (half-pixel centres):
    ``out[i] = w0[i] * src[i0[i]] + w1[i] * src[i1[i]]``.

    With ``clamp`` (OpenCV's horizontal axis) a position outside the image takes the border pixel
    with weight 1; without it (the vertical axis) the weights stay as computed and only the row
    indices are clipped, which matters for uint8 rounding.
    """
    f = ((np.arange(n_out) + 0.5) * (n_in / n_out) - 0.5).astype(np.float32)
    i0 = np.floor(f).astype(np.int64)
    frac = (f - i0).astype(np.float32)
    if clamp:
        low = i0 < 0
        high = i0 >= n_in - 1
        i0[low], frac[low] = 0, 0
        i0[high], frac[high] = n_in - 1, 0
    i1 = np.clip(i0 + 1, 0, n_in - 1)
    return np.clip(i0, 0, n_in - 1), i1, np.float32(1) - frac, frac


def _fixed(weights):
    """OpenCV's 11-bit fixed-point weight (``saturate_cast<short>(w * 2048)``, round half to even)."""
    return np.rint(weights * np.float32(2048)).astype(np.int64)


def _resize_bilinear(img, w, h):
    """Bilinear resize of ``(H, W, C)``: float arithmetic for floats; for uint8, OpenCV's fixed point
    (11-bit weights, a horizontal pass in integers, then the vertical pass of its vector code: each
    product shifted right by 4 and by 16, the sum rounded by two more bits)."""
    y0, y1, wy0, wy1 = _linear_taps(img.shape[0], h, clamp=False)
    x0, x1, wx0, wx1 = _linear_taps(img.shape[1], w, clamp=True)
    if img.dtype == np.uint8:
        src = img.astype(np.int64)
        rows = src[:, x0] * _fixed(wx0)[None, :, None] + src[:, x1] * _fixed(wx1)[None, :, None]
        b0, b1 = _fixed(wy0)[:, None, None], _fixed(wy1)[:, None, None]
        out = (((b0 * (rows[y0] >> 4)) >> 16) + ((b1 * (rows[y1] >> 4)) >> 16) + 2) >> 2
        return np.clip(out, 0, 255).astype(np.uint8)
    work = img.astype(np.float64)
    rows = work[:, x0] * wx0[None, :, None] + work[:, x1] * wx1[None, :, None]
    out = rows[y0] * wy0[:, None, None] + rows[y1] * wy1[:, None, None]
    return out.astype(img.dtype)


def _resize_nearest(img, w, h):
    """OpenCV's nearest neighbour: source index ``floor(i * n_in / n_out)``."""
    yi = np.minimum((np.arange(h) * (img.shape[0] / h)).astype(np.int64), img.shape[0] - 1)
    xi = np.minimum((np.arange(w) * (img.shape[1] / w)).astype(np.int64), img.shape[1] - 1)
    return img[yi][:, xi]


def _resize(img, w, h, interpolation):
    fn = _resize_nearest if interpolation == 0 else _resize_bilinear
    if img.ndim == 4:
        return np.stack([fn(im, w, h) for im in img])
    return fn(img, w, h)


def _check_interpolation(interpolation, who):
    if interpolation not in _INTERPOLATIONS:
        raise NotImplementedError(
            f"{who}: interpolation={interpolation!r} is not supported yet; use 0 (nearest) or 1 (bilinear)")
    return interpolation


def _size_pair(size, who):
    if isinstance(size, numbers.Integral) and not isinstance(size, bool):
        size = (size, size)
    if (not isinstance(size, (tuple, list)) or len(size) != 2
            or not all(isinstance(s, numbers.Integral) and s > 0 for s in size)):
        raise ValueError(f"{who}: size must be a positive int or a (width, height) pair, got {size!r}")
    return int(size[0]), int(size[1])


class Resize(HybridBlock):
    """Resize an ``HWC`` image (or ``NHWC`` batch) to ``size``.

    Parameters
    ----------
    size : int or (width, height)
        The output size; an int means a square, or with ``keep_ratio`` the length of the short side
        (the long side is scaled by the same factor and truncated).
    keep_ratio : bool
        Keep the aspect ratio when ``size`` is an int (ignored for a ``(width, height)`` pair, as in
        MXNet).
    interpolation : {0, 1}
        0: nearest neighbour, 1: bilinear (default). OpenCV's other codes (cubic, area, Lanczos) are
        not supported yet.

    Notes
    -----
    uint8 results equal MXNet 1.9.1's (checked shrinking and enlarging, in both directions); float
    images agree to float32 precision.
    """

    def __init__(self, size, keep_ratio=False, interpolation=1):
        super().__init__()
        pair = _size_pair(size, "Resize")
        # keep_ratio only means something for an int size (the short side); with a (width, height)
        # pair MXNet 1.9.1 ignores it and resizes to the pair, and so do we.
        self._keep = bool(keep_ratio) and isinstance(size, numbers.Integral)
        self._size = pair[0] if self._keep else pair
        self._interpolation = _check_interpolation(interpolation, "Resize")

    def _target(self, h, w):
        if not self._keep:
            return self._size
        s = int(self._size)
        return (s, h * s // w) if h > w else (w * s // h, s)

    def forward(self, x):
        img, ctx = _host(x, "Resize")
        _image_ndim(img, "Resize", "H x W x C")
        w, h = self._target(*img.shape[-3:-1])
        return _out(_resize(img, w, h, self._interpolation), ctx)


class CenterCrop(Block):
    """Crop the centre ``size`` (``(width, height)`` or a square) of an ``HWC`` image.

    An image smaller than ``size`` gives the largest centred crop of ``size``'s aspect ratio, resized
    up to ``size`` with ``interpolation`` (as MXNet does).
    """

    def __init__(self, size, interpolation=1):
        super().__init__()
        self._size = _size_pair(size, "CenterCrop")
        self._interpolation = _check_interpolation(interpolation, "CenterCrop")

    def forward(self, x):
        img, ctx = _host(x, "CenterCrop")
        if img.ndim != 3:
            raise ValueError(f"CenterCrop takes an image of shape H x W x C, got shape {img.shape}")
        h, w = img.shape[:2]
        out_w, out_h = self._size
        crop_w, crop_h = float(out_w), float(out_h)
        if h < crop_h:   # shrink the crop to fit, keeping its aspect ratio (MXNet's scale_down)
            crop_w, crop_h = crop_w * h / crop_h, h
        if w < crop_w:
            crop_w, crop_h = w, crop_h * w / crop_w
        crop_w, crop_h = int(crop_w), int(crop_h)
        x0, y0 = int((w - crop_w) / 2), int((h - crop_h) / 2)
        out = img[y0:y0 + crop_h, x0:x0 + crop_w]
        if (crop_w, crop_h) != (out_w, out_h):
            out = _resize(out, out_w, out_h, self._interpolation)
        return _out(out, ctx)


class RandomFlipLeftRight(HybridBlock):
    """Mirror an ``HWC`` image (or a whole ``NHWC`` batch) left to right with probability 0.5, drawn
    from the seeded generator (``gp.random.seed``)."""

    def forward(self, x):
        img, ctx = _host(x, "RandomFlipLeftRight")
        _image_ndim(img, "RandomFlipLeftRight", "H x W x C")
        if _random.generator().random() < 0.5:
            img = img[..., ::-1, :]
        return _out(img, ctx)

# A name MXNet has and gpuparams lacks (transforms.RandomResizedCrop ...) says "not supported yet".
from ..._unsupported import module_getattr as _module_getattr  # noqa: E402

__getattr__ = _module_getattr(globals(), "gluon.data.vision.transforms")

"""``gpuparams.image``: MXNet's ``mx.image`` (OpenCV-backed image decoding and augmenters) is not
supported yet.

The module exists so that libraries which import it at module level (``from mxnet import image``, as
the ``d2l`` package does) import after the port; each function raises
:class:`~gpuparams.errors.NotSupportedError` when called, and any other name raises
:class:`~gpuparams.errors.UnsupportedNameError`. For image datasets and transforms use
``gpuparams.gluon.data.vision``.
"""
from ._unsupported import module_getattr, stub

_WHY = "mx.image needs OpenCV-backed decoding, which gpuparams does not provide; use gluon.data.vision"

# The names of mx.image that ported code calls (decoding, resizing, cropping, the iterators).

__all__ = [
    "imread", "imdecode", "imresize", "resize_short", "fixed_crop", "center_crop", "random_crop",
    "random_size_crop", "color_normalize", "scale_down", "copyMakeBorder", "ImageIter", "ImageDetIter",
    "CreateAugmenter", "CreateDetAugmenter",
]

imread = stub("gpuparams.image.imread", _WHY)
imdecode = stub("gpuparams.image.imdecode", _WHY)
imresize = stub("gpuparams.image.imresize", _WHY)
resize_short = stub("gpuparams.image.resize_short", _WHY)
fixed_crop = stub("gpuparams.image.fixed_crop", _WHY)
center_crop = stub("gpuparams.image.center_crop", _WHY)
random_crop = stub("gpuparams.image.random_crop", _WHY)
random_size_crop = stub("gpuparams.image.random_size_crop", _WHY)
color_normalize = stub("gpuparams.image.color_normalize", _WHY)
scale_down = stub("gpuparams.image.scale_down", _WHY)
copyMakeBorder = stub("gpuparams.image.copyMakeBorder", _WHY)
ImageIter = stub("gpuparams.image.ImageIter", _WHY)
ImageDetIter = stub("gpuparams.image.ImageDetIter", _WHY)
CreateAugmenter = stub("gpuparams.image.CreateAugmenter", _WHY)
CreateDetAugmenter = stub("gpuparams.image.CreateDetAugmenter", _WHY)

__getattr__ = module_getattr(globals(), "gpuparams.image")

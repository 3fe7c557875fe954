"""``gluon.data.vision`` (MXNet's ``mxnet.gluon.data.vision``): image datasets and transforms.

Import every submodule here, eagerly: ``gpuparams.gluon.data`` binds the names of the submodules
already imported when it is first imported, which is what keeps ``gluon.data.vision.X`` and
``data.vision.X`` one module.
"""

__all__ = []

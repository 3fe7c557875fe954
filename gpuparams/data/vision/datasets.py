"""MNIST, Fashion-MNIST and CIFAR-10, downloaded (SHA-1 checked, resumable) on first use.

Items are ``(image, label)``: the image an NDArray of uint8 on ``cpu(0)`` in height x width x channel
layout (``(28, 28, 1)``, ``(32, 32, 3)``), the label a NumPy int32 scalar, as in MXNet. The files are
read once, when the dataset is made. Without a network, each class raises
:class:`~gpuparams.errors.DatasetDownloadError` naming the URL that failed and the path to put the
file at by hand; ``root`` (or ``$GPUPARAMS_HOME``) chooses the directory.
"""
from __future__ import annotations

import os

import numpy as np

from ...context import cpu
from ...errors import DatasetChecksumError
from ..._ndarray import from_backend
from ..dataset import Dataset
from ..download import dataset_dir, fetch, sha1_of
from .formats import extract_members, read_cifar_batch, read_idx

__all__ = ["MNIST", "FashionMNIST", "CIFAR10"]


class _VisionDataset(Dataset):
    """Images and labels read from files once; ``transform(image, label)`` applied per item."""

    namespace = None
    urls = ()

    def __init__(self, root=None, train=True, transform=None):
        if transform is not None and not callable(transform):
            raise TypeError(f"{type(self).__name__}: transform must be callable (image, label) -> "
                            f"item, got {type(transform).__name__}")
        self._root = os.path.expanduser(root) if root is not None else dataset_dir(self.namespace)
        self._train = bool(train)
        self._transform = transform
        images, labels = self._load()
        if len(images) != len(labels):
            raise ValueError(f"{type(self).__name__}: {len(images)} images but {len(labels)} labels in "
                             f"{self._root}")
        self._data = from_backend(images, cpu(0))
        self._label = labels

    @property
    def root(self):
        """The directory holding the files."""
        return self._root

    def __len__(self):
        return len(self._label)

    def __getitem__(self, idx):
        if self._transform is not None:
            return self._transform(self._data[idx], self._label[idx])
        return self._data[idx], self._label[idx]

    @property
    def _gather(self):
        # Only without a transform can a batch be cut directly (it would skip the transform).
        if self._transform is not None:
            raise AttributeError("_gather")
        return self._gather_batch

    def _gather_batch(self, indices):
        return [from_backend(self._data._data[indices], cpu(0)),
                from_backend(self._label[indices], cpu(0))]


class MNIST(_VisionDataset):
    """The MNIST handwritten digits (60,000 training and 10,000 test images of 28x28, labels 0..9).

    Parameters
    ----------
    root : str, optional
        Directory of the four ``*-idx?-ubyte.gz`` files (default ``$GPUPARAMS_HOME/datasets/mnist``,
        ``~/.gpuparams/datasets/mnist`` without the variable). Missing files are downloaded.
    train : bool
        The training set (True) or the test set.
    transform : callable, optional
        ``transform(image, label)`` returning the item, e.g.
        ``lambda data, label: (data.astype('float32') / 255, label)``.
    """

    namespace = "mnist"
    # The official site first, then the mirror PyTorch uses (the official one often refuses scripts).
    urls = ("https://yann.lecun.com/exdb/mnist/", "https://ossci-datasets.s3.amazonaws.com/mnist/")
    # (file name, SHA-1): the digests MXNet 1.9.1 publishes for these files.
    files = {"train": (("train-images-idx3-ubyte.gz", "6c95f4b05d2bf285e1bfb0e7960c31bd3b3f8a7d"),
                       ("train-labels-idx1-ubyte.gz", "2a80914081dc54586dbdf242f9805a6b8d2a15fc")),
             "test": (("t10k-images-idx3-ubyte.gz", "c3a25af1f52dad7f726cce8cacb138654b760d48"),
                      ("t10k-labels-idx1-ubyte.gz", "763e7fa3757d93b0cdec073cef058b2004252c17"))}

    def _load(self):
        split = "train" if self._train else "test"
        (images_name, images_sha1), (labels_name, labels_sha1) = self.files[split]
        images = read_idx(fetch(images_name, images_sha1, self.urls, self._root))
        labels = read_idx(fetch(labels_name, labels_sha1, self.urls, self._root))
        if images.ndim != 3 or images.dtype != np.uint8 or labels.ndim != 1:
            raise ValueError(f"{type(self).__name__}: {images_name} should hold uint8 images (N, H, W) and "
                             f"{labels_name} labels (N,); got {images.dtype} {images.shape} and "
                             f"{labels.shape}")
        return images[..., None], labels.astype(np.int32)


class FashionMNIST(MNIST):
    """Zalando's Fashion-MNIST: 28x28 grey images of ten kinds of clothing, in MNIST's file format.

    Parameters are those of :class:`MNIST`; the default root is ``.../datasets/fashion-mnist``.
    """

    namespace = "fashion-mnist"
    urls = ("http://fashion-mnist.s3-website.eu-central-1.amazonaws.com/",)
    files = {"train": (("train-images-idx3-ubyte.gz", "0cf37b0d40ed5169c6b3aba31069a9770ac9043d"),
                       ("train-labels-idx1-ubyte.gz", "236021d52f1e40852b06a4c3008d8de8aef1e40b")),
             "test": (("t10k-images-idx3-ubyte.gz", "626ed6a7c06dd17c0eec72fa3be1740f146a2863"),
                      ("t10k-labels-idx1-ubyte.gz", "17f9ab60e7257a1620f4ad76bbbaf857c3920701"))}


class CIFAR10(_VisionDataset):
    """CIFAR-10: 50,000 training and 10,000 test colour images of 32x32 in ten classes.

    Reads the *binary* version (``cifar-10-binary.tar.gz``: ``data_batch_1.bin`` .. ``_5.bin``,
    ``test_batch.bin``). The Python version of CIFAR-10 is a set of pickles, which gpuparams never
    loads (unpickling a downloaded file can run arbitrary code).

    Parameters
    ----------
    root : str, optional
        Directory of the ``.bin`` files or of ``cifar-10-binary.tar.gz`` (default
        ``$GPUPARAMS_HOME/datasets/cifar10``). Missing files are taken from the archive, which is
        downloaded when it is missing too.
    train : bool
        The training set (True) or the test set.
    transform : callable, optional
        ``transform(image, label)`` returning the item.
    """

    namespace = "cifar10"
    urls = ("https://www.cs.toronto.edu/~kriz/",)
    archive = ("cifar-10-binary.tar.gz", "fab780a1e191a7eda0f345501ccd62d20f7ed891")
    archive_dir = "cifar-10-batches-bin"
    # (file name, SHA-1), as MXNet 1.9.1 publishes them.
    files = {"train": (("data_batch_1.bin", "aadd24acce27caa71bf4b10992e9e7b2d74c2540"),
                       ("data_batch_2.bin", "c0ba65cce70568cd57b4e03e9ac8d2a5367c1795"),
                       ("data_batch_3.bin", "1dd00a74ab1d17a6e7d73e185b69dbf31242f295"),
                       ("data_batch_4.bin", "aab85764eb3584312d3c7f65fd2fd016e36a258e"),
                       ("data_batch_5.bin", "26e2849e66a845b7f1e4614ae70f4889ae604628")),
             "test": (("test_batch.bin", "67eb016db431130d61cd03c7ad570b013799c88c"),)}

    def _load(self):
        wanted = self.files["train" if self._train else "test"]
        missing = [(name, sha1) for name, sha1 in wanted
                   if not os.path.exists(os.path.join(self._root, name))]
        if missing:
            archive = fetch(*self.archive, self.urls, self._root)
            extract_members(archive, [f"{self.archive_dir}/{name}" for name, _ in missing], self._root)
        images, labels = [], []
        for name, sha1 in wanted:
            path = os.path.join(self._root, name)
            actual = sha1_of(path)
            if actual != sha1:
                raise DatasetChecksumError(f"{path} has SHA-1 {actual}, but the published SHA-1 of {name} "
                                           f"is {sha1}; delete it to extract it again from {self.archive[0]}")
            x, y = read_cifar_batch(path)
            images.append(x)
            labels.append(y)
        return np.concatenate(images), np.concatenate(labels)

# A name MXNet has and gpuparams lacks (datasets.CIFAR100 ...) says "not supported yet".
from ..._unsupported import module_getattr as _module_getattr  # noqa: E402

__getattr__ = _module_getattr(globals(), "gluon.data.vision.datasets")

"""MXNet's import paths after ``mxnet`` -> ``gpuparams``: gluon's submodules are real modules,
``gpuparams.ndarray`` is the nd namespace, the random samplers and legacy names exist, ``base.MXNetError``
catches our errors, and a name we lack says it is not supported yet (tests/data/mxnet_compat_semantics.json
records what MXNet 1.9.1 has)."""
import importlib
import json
import pathlib
import subprocess
import sys

import pytest

import gpuparams as gp
from gpuparams import errors

MX = json.loads((pathlib.Path(__file__).parent / "data" / "mxnet_compat_semantics.json").read_text())


def test_gluon_submodules_are_importable_modules_and_the_same_objects():
    import gpuparams.gluon.data.vision as vision
    import gpuparams.gluon.nn as nn
    from gpuparams.gluon.data import ArrayDataset, DataLoader
    from gpuparams.gluon.loss import L2Loss
    from gpuparams.gluon.utils import split_and_load
    assert nn is gp.nn and gp.gluon.nn is gp.nn
    assert DataLoader is gp.data.DataLoader and ArrayDataset is gp.data.ArrayDataset
    assert L2Loss is gp.loss.L2Loss and split_and_load is gp.gluon_utils.split_and_load
    assert vision is gp.data.vision and gp.gluon.data.vision is vision
    assert importlib.import_module("gpuparams.gluon.loss") is gp.loss
    assert importlib.import_module("gpuparams.gluon.utils") is gp.gluon_utils
    from gpuparams.gluon import Trainer
    assert Trainer is gp.Trainer
    import gpuparams.gluon.lr_scheduler as lrs
    from gpuparams.gluon.lr_scheduler import CosineScheduler
    assert lrs is gp.lr_scheduler and gp.gluon.lr_scheduler is lrs
    assert CosineScheduler is gp.lr_scheduler.CosineScheduler


def test_gluon_submodules_import_in_a_fresh_interpreter_without_loading_each_other():
    # `import gpuparams.gluon.data.vision` first, then the package name: still one module object.
    code = ("import sys, gpuparams.gluon.data.vision as v, gpuparams.data.vision as w; "
            "import gpuparams.gluon.nn as nn, gpuparams; "
            "assert v is w and nn is gpuparams.nn; "
            "print('ok')")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.strip() == "ok"


def test_ndarray_is_the_nd_namespace_as_mx_ndarray_is_mx_nd():
    assert MX["names"]["mx.nd is mx.ndarray"]
    from gpuparams import ndarray as nd2
    import gpuparams.ndarray as nd3
    assert nd2 is gp.nd and nd3 is gp.nd and gp.ndarray is gp.nd
    assert nd2.NDArray is gp.NDArray and isinstance(nd2.ones((2,)), nd2.NDArray)
    from gpuparams.ndarray import NDArray, array
    assert NDArray is gp.NDArray and array is gp.nd.array


def test_random_samplers_and_legacy_names(ctx):
    assert all(MX["names"]["legacy samplers"].values())
    assert MX["names"]["mx.random.uniform is nd.random.uniform"]
    nd = gp.nd
    assert gp.random.uniform is nd.random.uniform and gp.random.normal is nd.random.normal
    assert nd.uniform is nd.random.uniform and nd.random_uniform is nd.random.uniform
    assert nd.normal is nd.random.normal and nd.random_normal is nd.random.normal
    gp.random.seed(3)
    a = gp.random.uniform(-1, 1, shape=(2, 3), ctx=ctx)
    gp.random.seed(3)
    b = nd.random_uniform(-1, 1, shape=(2, 3), ctx=ctx)
    assert a.asnumpy().tolist() == b.asnumpy().tolist() and a.context is ctx
    want = MX["names"]["nd.random_normal(shape=(2,)).shape"]
    assert list(nd.random_normal(shape=(2,), ctx=ctx).shape) == want
    assert -1 <= a.asnumpy().min() and a.asnumpy().max() < 1


def test_base_mxnet_error_catches_our_errors():
    assert gp.base.MXNetError is errors.GpuparamsError
    with pytest.raises(gp.base.MXNetError):
        gp.nd.ones((2,)) + gp.nd.ones((3,))  # a ShapeError
    from gpuparams.base import MXNetError
    assert issubclass(errors.AutogradError, MXNetError)


@pytest.mark.parametrize("owner, name, hint", [
    (lambda: gp.nd, "sofmax", "softmax"),
    (lambda: gp.nd, "contrib_foo_op", None),
    (lambda: gp.gluon, "rnn", None),
    (lambda: gp, "kv", None),
    (lambda: gp.nd.ones((2,)), "asnumpyy", "asnumpy"),
    # Layers, losses and helpers MXNet 1.9.1 has in each public module we provide.
    (lambda: gp.gluon.nn, "Conv2D", None),
    (lambda: gp.gluon.nn, "BatchNorm", None),
    (lambda: gp.gluon.loss, "CTCLoss", None),
    (lambda: gp.gluon.utils, "download", None),
    (lambda: gp.gluon.data.vision, "ImageFolderDataset", None),
    (lambda: gp.gluon.data.vision.transforms, "RandomResizedCrop", None),
    (lambda: gp.gluon.data.vision.datasets, "CIFAR100", "CIFAR10"),
    (lambda: gp.np, "fft", None),
    (lambda: gp.npx, "batch_norm", None),
    (lambda: gp.init, "Bilinear", None),
    (lambda: gp.initializer, "Bilinear", None),
    (lambda: gp.optimizer, "LAMB", None),
    (lambda: gp.lr_scheduler, "FactorSchedulr", "FactorScheduler"),
    (lambda: gp.autograd, "get_symbol", None),
])
def test_a_missing_name_says_it_is_not_supported_yet(owner, name, hint):
    obj = owner()
    with pytest.raises(errors.UnsupportedNameError, match="is not supported by gpuparams yet") as info:
        getattr(obj, name)
    assert isinstance(info.value, AttributeError) and name in str(info.value)
    if hint:
        assert f"did you mean {hint}" in str(info.value)
    assert not hasattr(obj, name) and getattr(obj, name, 7) == 7


def test_private_names_still_fail_the_usual_way():
    with pytest.raises(AttributeError) as info:
        _ = gp.nd.ones((2,))._nothing_here
    assert not isinstance(info.value, errors.UnsupportedNameError)


def test_image_and_contrib_text_import_and_say_so_when_called():
    from gpuparams import image
    from gpuparams.contrib import text
    from gpuparams.contrib.text import embedding, utils, vocab
    with pytest.raises(errors.NotSupportedError, match=r"gpuparams\.image\.imread is not supported yet"):
        image.imread("cat.jpg")
    with pytest.raises(NotImplementedError, match="contrib.text.embedding.create"):
        text.embedding.create("glove", pretrained_file_name="glove.6B.50d.txt")
    with pytest.raises(errors.NotSupportedError):
        vocab.Vocabulary()
    with pytest.raises(errors.NotSupportedError):
        utils.count_tokens_from_str("a b")
    assert embedding.get_pretrained_file_names.__name__ == "get_pretrained_file_names"
    with pytest.raises(errors.UnsupportedNameError, match="gpuparams.image.ImageRecordIter"):
        _ = image.ImageRecordIter


# ----------------------------------------------------------------------------- MXNet 1.9.1 submodule paths
#: (module path after mxnet -> gpuparams, a name MXNet code imports from it, the package-level object).
SUBMODULE_NAMES = [
    ("gpuparams.gluon.data.dataset", "Dataset", lambda: gp.data.Dataset),
    ("gpuparams.gluon.data.dataset", "ArrayDataset", lambda: gp.gluon.data.ArrayDataset),
    ("gpuparams.gluon.data.sampler", "Sampler", lambda: gp.data.Sampler),
    ("gpuparams.gluon.data.sampler", "RandomSampler", lambda: gp.gluon.data.RandomSampler),
    ("gpuparams.gluon.data.dataloader", "DataLoader", lambda: gp.gluon.data.DataLoader),
    ("gpuparams.gluon.data.vision", "MNIST", lambda: gp.data.vision.MNIST),
    ("gpuparams.gluon.data.vision.datasets", "FashionMNIST", lambda: gp.data.vision.FashionMNIST),
    ("gpuparams.gluon.data.vision.transforms", "ToTensor", lambda: gp.data.vision.transforms.ToTensor),
    ("gpuparams.gluon.nn.basic_layers", "Dense", lambda: gp.gluon.nn.Dense),
    ("gpuparams.gluon.nn.basic_layers", "HybridSequential", lambda: gp.gluon.nn.HybridSequential),
    ("gpuparams.gluon.nn.activations", "Activation", lambda: gp.gluon.nn.Activation),
    ("gpuparams.gluon.loss", "SoftmaxCrossEntropyLoss", lambda: gp.gluon.loss.SoftmaxCrossEntropyLoss),
    ("gpuparams.gluon.utils", "split_and_load", lambda: gp.gluon.utils.split_and_load),
    ("gpuparams.gluon.trainer", "Trainer", lambda: gp.gluon.Trainer),
    ("gpuparams.gluon.parameter", "Parameter", lambda: gp.gluon.Parameter),
    ("gpuparams.gluon.parameter", "ParameterDict", lambda: gp.gluon.ParameterDict),
    ("gpuparams.gluon.block", "HybridBlock", lambda: gp.gluon.HybridBlock),
    ("gpuparams.gluon.block", "SymbolBlock", lambda: gp.gluon.SymbolBlock),
]


@pytest.mark.parametrize("path, name, expected", SUBMODULE_NAMES,
                         ids=[f"{p}.{n}" for p, n, _ in SUBMODULE_NAMES])
def test_mxnet_submodule_paths_give_the_package_objects(path, name, expected):
    module = importlib.import_module(path)
    assert getattr(module, name) is expected()
    # `import a.b.c` binds the name chain a.b.c too: each step must lead to that module.
    leaf = gp
    for part in path.split(".")[1:]:
        leaf = getattr(leaf, part)
    assert getattr(leaf, name) is expected()


def test_submodule_aliases_are_the_real_modules_not_second_copies():
    import gpuparams.gluon.data.dataloader as dl
    import gpuparams.gluon.data.sampler as sampler
    import gpuparams.gluon.nn.basic_layers as basic
    assert sampler is gp.data.sampler and dl is gp.data.dataloader and basic is gp.nn.basic_layers
    for name in ("trainer", "parameter"):
        alias = importlib.import_module(f"gpuparams.gluon.{name}")
        assert alias is importlib.import_module(f"gpuparams.{name}")


def test_mxnet_submodule_imports_in_a_fresh_interpreter():
    # What an MXNet script does first thing, with nothing of gpuparams imported before it.
    code = ("from gpuparams.gluon.data.sampler import Sampler\n"
            "import gpuparams.gluon.data.dataloader\n"
            "from gpuparams.gluon.data.dataset import Dataset\n"
            "from gpuparams.gluon.nn.basic_layers import Dense\n"
            "from gpuparams.gluon.nn.activations import Activation\n"
            "from gpuparams.gluon.block import HybridBlock\n"
            "import gpuparams as gp\n"
            "assert Sampler is gp.data.Sampler and Dataset is gp.data.Dataset\n"
            "assert gpuparams.gluon.data.dataloader.DataLoader is gp.data.DataLoader\n"
            "assert Dense is gp.nn.Dense and Activation is gp.nn.Activation\n"
            "assert HybridBlock is gp.nn.HybridBlock\n"
            "print('ok')")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True)
    assert out.returncode == 0 and out.stdout.strip() == "ok", out.stderr


#: MXNet 1.9.1 modules gpuparams does not implement, as import statements and the path they name.
UNSUPPORTED_IMPORTS = [
    ("import gpuparams.gluon.rnn", "gpuparams.gluon.rnn"),
    ("from gpuparams.gluon import rnn", "gpuparams.gluon.rnn"),
    ("from gpuparams.gluon.rnn import LSTM", "gpuparams.gluon.rnn"),
    ("from gpuparams.gluon.nn import conv_layers", "gpuparams.gluon.nn.conv_layers"),
    ("from gpuparams.gluon.nn.conv_layers import Conv2D", "gpuparams.gluon.nn.conv_layers"),
    ("import gpuparams.gluon.contrib.nn", "gpuparams.gluon.contrib"),
    ("from gpuparams.gluon import contrib", "gpuparams.gluon.contrib"),
    ("from gpuparams.gluon.model_zoo import vision", "gpuparams.gluon.model_zoo"),
    ("import gpuparams.gluon.model_zoo.vision", "gpuparams.gluon.model_zoo"),
]


@pytest.mark.parametrize("statement, shown", UNSUPPORTED_IMPORTS, ids=[s for s, _ in UNSUPPORTED_IMPORTS])
def test_unsupported_mxnet_modules_fail_to_import_saying_so(statement, shown):
    with pytest.raises(ImportError) as info:
        exec(statement, {})
    assert isinstance(info.value, errors.UnsupportedModuleError)
    assert isinstance(info.value, errors.NotSupportedError)
    message = str(info.value)
    assert f"{shown} is not supported by gpuparams yet" in message
    assert "mxnet." + shown[len("gpuparams."):] in message
    assert not any(name.startswith(shown) for name in sys.modules)  # nothing half-imported stays


def test_unsupported_module_keeps_hasattr_and_import_fallbacks_working():
    assert not hasattr(gp.gluon, "rnn") and getattr(gp.gluon, "rnn", None) is None
    try:
        from gpuparams.gluon import rnn
    except ImportError:  # the usual "optional module" fallback of MXNet code
        rnn = None
    assert rnn is None


def test_a_misspelled_submodule_is_still_module_not_found():
    with pytest.raises(ModuleNotFoundError, match="No module named 'gpuparams.gluon.data.samplers'"):
        importlib.import_module("gpuparams.gluon.data.samplers")


#: ``from <package> import <name>`` of names MXNet has and gpuparams lacks: Python turns the failed
#: attribute lookup into a submodule import, which must keep the "not supported yet" message.
MISSING_FROM_IMPORTS = [
    ("from gpuparams import metric", "gpuparams.metric is not supported by gpuparams yet"),
    ("import gpuparams.kvstore", "gpuparams.kvstore is not supported by gpuparams yet"),
    ("from gpuparams.gluon.nn import Dense, Conv2D", "gluon.nn.Conv2D is not supported by gpuparams yet"),
    ("from gpuparams.nd import contrib", "nd.contrib is not supported by gpuparams yet"),
    ("from gpuparams.ndarray import sparse", "nd.sparse is not supported by gpuparams yet"),
    ("from gpuparams.gluon.data.vision import ImageFolderDataset",
     "gluon.data.vision.ImageFolderDataset is not supported by gpuparams yet"),
]


@pytest.mark.parametrize("statement, shown", MISSING_FROM_IMPORTS, ids=[s for s, _ in MISSING_FROM_IMPORTS])
def test_from_import_of_a_missing_mxnet_name_says_it_is_not_supported_yet(statement, shown):
    with pytest.raises(ModuleNotFoundError) as info:
        exec(statement, {})
    assert isinstance(info.value, errors.UnsupportedSubmoduleError)
    assert isinstance(info.value, errors.NotSupportedError) and shown in str(info.value)
    assert str(info.value).startswith("No module named 'gpuparams.")


def test_names_that_exist_or_are_private_keep_pythons_errors():
    for statement in ("import gpuparams.nd.NDArray", "import gpuparams.nd.relu", "import gpuparams._nope"):
        with pytest.raises(ModuleNotFoundError) as info:
            exec(statement, {})
        assert not isinstance(info.value, errors.NotSupportedError), statement
    from gpuparams.nd import NDArray, relu  # noqa: F401  (attributes import as before)
    from gpuparams.gluon.data import DataLoader, sampler  # noqa: F401


def test_mxnets_class_module_path_gives_the_ndarray_class():
    """``from mxnet.ndarray.ndarray import NDArray`` (MXNet's module of the class) under both names."""
    from gpuparams.ndarray.ndarray import NDArray
    import gpuparams.nd.ndarray as module
    assert NDArray is gp.nd.NDArray is module.NDArray and gp.nd.ndarray is module
    assert isinstance(gp.nd.ones((2,)), gp.ndarray.ndarray.NDArray)

"""Data-pipeline cases recorded with MXNet 1.9.1 (tests/data/mxnet_data_reference.json).

``run(gdata, transforms, interval_sampler)`` computes every case with the framework passed in, so the
same code produced the reference under MXNet and produces the values under test with gpuparams
(``tests/test_data_pipeline.py``, and the transforms in ``tests/test_vision.py``). Re-record with
MXNet 1.9.1: ``cd tests/data && /work/mxvenv/bin/python mxnet_data_cases.py`` (writes the JSON beside
this file).
"""
import json
import os

import numpy as np


def _lists(batches):
    out = []
    for b in batches:
        if isinstance(b, (list, tuple)):
            out.append([np.asarray(f.asnumpy()).tolist() for f in b])
        else:
            out.append(np.asarray(b.asnumpy()).tolist())
    return out


def _is_odd(x):
    return x % 2 == 1


def _sum_batchify(samples):
    return [sum(int(s[1]) for s in samples)]


def samplers(gdata, interval_sampler):
    out = {"sequential": list(gdata.SequentialSampler(5, start=2))}
    for mode in ("keep", "discard"):
        bs = gdata.BatchSampler(gdata.SequentialSampler(7), 3, mode)
        out["batch_" + mode] = {"len": len(bs), "epochs": [list(bs), list(bs)]}
    bs = gdata.BatchSampler(gdata.SequentialSampler(7), 3, "rollover")
    lens, epochs = [], []
    for _ in range(4):
        lens.append(len(bs))
        epochs.append(list(bs))
    out["batch_rollover"] = {"len": lens, "epochs": epochs}
    for args in ((13, 3), (13, 3, False), (10, 4), (10, 4, False), (5, 5)):
        s = interval_sampler(*args)
        out["interval_%s" % "_".join(map(str, args))] = {"list": list(s), "len": len(s)}
    fs = gdata.FilterSampler(lambda x: x % 3 == 0, gdata.SimpleDataset(list(range(10))))
    out["filter"] = {"list": list(fs), "len": len(fs)}
    return out


def datasets(gdata):
    ten = gdata.SimpleDataset(list(range(10)))
    out = {"filter_odd": [x for x in ten.filter(_is_odd)]}
    out["shard"] = [[x for x in ten.shard(3, i)] for i in range(3)]
    out["shard_lens"] = [len(ten.shard(4, i)) for i in range(4)]
    out["take"] = {"4": [x for x in ten.take(4)], "None": len(ten.take(None)), "100": len(ten.take(100))}
    out["sample"] = [x for x in ten.sample(gdata.SequentialSampler(3, start=6))]
    pairs = gdata.SimpleDataset([(i, 10 * i) for i in range(4)])
    out["transform"] = [list(x) for x in pairs.transform(lambda a, b: (a + b, a - b))]
    out["transform_first"] = [list(x) for x in pairs.transform_first(lambda a: a * 100)]
    out["transform_single"] = [x for x in ten.take(3).transform_first(lambda a: a + 0.5)]
    out["transform_eager"] = [list(x) for x in pairs.transform(lambda a, b: (b, a), lazy=False)]
    out["filter_after_transform"] = [list(x) for x in pairs.transform_first(lambda a: a * 3)
                                     .filter(lambda s: s[0] % 2 == 0)]
    return out


def loaders(gdata):
    X = np.arange(20, dtype="float32").reshape(10, 2)
    y = np.arange(10, dtype="int32")
    ds = gdata.ArrayDataset(X, y)
    out = {}
    for mode in ("keep", "discard", "rollover"):
        loader = gdata.DataLoader(ds, batch_size=4, last_batch=mode)
        out["last_" + mode] = [{"len": len(loader), "batches": _lists(loader)} for _ in range(3)]
    out["sampler"] = _lists(gdata.DataLoader(ds, batch_size=3, sampler=gdata.SequentialSampler(5, 5)))
    out["batch_sampler"] = _lists(gdata.DataLoader(
        ds, batch_sampler=gdata.BatchSampler(gdata.SequentialSampler(10), 6, "discard")))
    out["batchify_fn"] = list(gdata.DataLoader(ds, batch_size=4, batchify_fn=_sum_batchify))
    out["workers"] = _lists(gdata.DataLoader(ds.transform_first(lambda x: x * 2), batch_size=3,
                                             num_workers=2))
    out["threads"] = _lists(gdata.DataLoader(ds, batch_size=3, num_workers=2, thread_pool=True))
    dtypes = {}
    cases = {"int": [1, 2, 3], "float": [1.5, 2.0], "bool": [True, False],
             "np_uint8": list(np.arange(3, dtype="uint8")),
             "np_float64_rows": [np.ones(2), np.zeros(2)], "pairs": [(1, 2.5), (3, 4.5)]}
    for name, items in cases.items():
        try:
            batch = next(iter(gdata.DataLoader(gdata.SimpleDataset(items), batch_size=len(items))))
        except TypeError as exc:  # gpuparams has no bool arrays; the test checks the error says so
            dtypes[name] = {"error": str(exc)}
            continue
        fields = batch if isinstance(batch, list) else [batch]
        dtypes[name] = [[str(np.dtype(f.dtype)), list(f.shape), f.asnumpy().tolist()] for f in fields]
    out["default_batchify"] = dtypes
    return out


def image():
    return np.random.RandomState(7).randint(0, 256, size=(5, 7, 3)).astype("uint8")


def vision_transforms(nd, transforms):
    img = nd.array(image(), dtype="uint8")
    fimg = img.astype("float32") * 0.5
    batch = nd.array(np.stack([image(), image()[::-1]]), dtype="uint8")
    out = {}

    def rec(name, value):
        out[name] = {"dtype": str(np.dtype(value.dtype)), "shape": list(value.shape),
                     "value": value.asnumpy().astype("float64").tolist()}

    rec("resize_4x3_bilinear", transforms.Resize((4, 3))(img))
    rec("resize_4x3_nearest", transforms.Resize((4, 3), interpolation=0)(img))
    rec("resize_10x8_bilinear", transforms.Resize((10, 8))(img))
    rec("resize_10x8_nearest", transforms.Resize((10, 8), interpolation=0)(img))
    rec("resize_int_6", transforms.Resize(6)(img))
    rec("resize_keep_ratio_3", transforms.Resize(3, keep_ratio=True)(img))
    rec("resize_float_bilinear", transforms.Resize((4, 3))(fimg))
    rec("resize_float_up", transforms.Resize((9, 6))(fimg))
    rec("resize_batch", transforms.Resize((3, 4))(batch))
    big = nd.array(np.random.RandomState(3).randint(0, 256, size=(13, 11, 1)), dtype="uint8")
    for w, h in ((5, 17), (22, 26), (7, 2), (11, 13), (4, 4)):
        for interp in (0, 1):
            rec("resize_big_%dx%d_%d" % (w, h, interp), transforms.Resize((w, h), interpolation=interp)(big))
    rec("to_tensor", transforms.ToTensor()(img))
    rec("to_tensor_batch", transforms.ToTensor()(batch))
    rec("to_tensor_float", transforms.ToTensor()(fimg))
    chw = transforms.ToTensor()(img)
    rec("normalize", transforms.Normalize(mean=(0.1, 0.2, 0.3), std=(0.5, 0.6, 0.7))(chw))
    rec("normalize_scalar", transforms.Normalize(0.5, 0.25)(chw))
    rec("center_crop_3", transforms.CenterCrop(3)(img))
    rec("center_crop_4x2", transforms.CenterCrop((4, 2))(img))
    rec("center_crop_up_10", transforms.CenterCrop(10)(img))
    rec("cast_float16", transforms.Cast("float16")(fimg))
    rec("cast_default", transforms.Cast()(img))
    rec("compose", transforms.Compose([transforms.Resize(4), transforms.ToTensor(),
                                       transforms.Normalize(0.5, 0.25)])(img))
    return out


def run(nd, gdata, transforms, interval_sampler):
    return {"samplers": samplers(gdata, interval_sampler), "datasets": datasets(gdata),
            "loaders": loaders(gdata), "transforms": vision_transforms(nd, transforms)}


if __name__ == "__main__":
    import mxnet as mx
    from mxnet.gluon.contrib.data import IntervalSampler
    from mxnet.gluon.data.vision import transforms as mx_transforms

    ref = run(mx.nd, mx.gluon.data, mx_transforms, IntervalSampler)
    ref["_source"] = "MXNet %s, tests/data/mxnet_data_cases.py" % mx.__version__
    path = os.path.join(os.path.dirname(os.path.abspath(__file__)), "mxnet_data_reference.json")
    with open(path + ".tmp", "w") as f:
        json.dump(ref, f, indent=0, sort_keys=True)
    os.replace(path + ".tmp", path)
    print("wrote", path)

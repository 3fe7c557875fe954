"""gluon.data.vision: transforms against MXNet 1.9.1, the IDX and CIFAR-10 binary readers on small
files in the real formats, the datasets, and the download path against a local HTTP server."""
import gzip
import hashlib
import http.server
import io
import json
import os
import pathlib
import socket
import subprocess
import sys
import tarfile
import threading

import numpy as np
import pytest

import gpuparams as gp
from gpuparams import nd
from gpuparams.data import download
from gpuparams.data.vision import CIFAR10, MNIST, FashionMNIST, formats, transforms
from gpuparams.errors import DatasetChecksumError, DatasetDownloadError, DatasetFormatError
from gpuparams.gluon import data as gdata

DATA = pathlib.Path(__file__).parent / "data"
sys.path.insert(0, str(DATA))
import mxnet_data_cases as cases  # noqa: E402

REF = json.loads((DATA / "mxnet_data_reference.json").read_text())["transforms"]


# ----------------------------------------------------------------------------- transforms
@pytest.fixture(scope="module")
def ours():
    return cases.vision_transforms(nd, transforms)


@pytest.mark.parametrize("name", sorted(REF))
def test_transform_matches_mxnet(ours, name):
    ref, got = REF[name], ours[name]
    assert (got["dtype"], got["shape"]) == (ref["dtype"], ref["shape"])
    want, have = np.array(ref["value"]), np.array(got["value"])
    if ref["dtype"] == "uint8":
        np.testing.assert_array_equal(have, want)
    else:
        np.testing.assert_allclose(have, want, rtol=2e-6, atol=1e-6)


def test_bilinear_float_resize_against_an_independent_formula():
    # Half-pixel-centre bilinear interpolation (float64 reference computed here point by point).
    img = np.random.RandomState(0).rand(4, 6, 2).astype(np.float32)
    out = transforms.Resize((9, 5))(nd.array(img)).asnumpy()
    def src(i, n_in, n_out):
        f = min(max((i + 0.5) * n_in / n_out - 0.5, 0), n_in - 1)
        lo = int(np.floor(f))
        return lo, min(lo + 1, n_in - 1), f - lo
    for y in range(5):
        y0, y1, fy = src(y, 4, 5)
        for x in range(9):
            x0, x1, fx = src(x, 6, 9)
            want = ((1 - fy) * ((1 - fx) * img[y0, x0] + fx * img[y0, x1])
                    + fy * ((1 - fx) * img[y1, x0] + fx * img[y1, x1]))
            np.testing.assert_allclose(out[y, x], want, rtol=1e-5)


def test_random_flip_is_seeded_and_flips_or_keeps():
    img = nd.array(np.arange(24).reshape(2, 4, 3), dtype="uint8")
    flip = transforms.RandomFlipLeftRight()
    gp.random.seed(0)
    outs = [flip(img).asnumpy() for _ in range(20)]
    flipped = [bool((o == img.asnumpy()[:, ::-1]).all()) for o in outs]
    kept = [bool((o == img.asnumpy()).all()) for o in outs]
    assert all(f != k for f, k in zip(flipped, kept))
    assert 3 <= sum(flipped) <= 17
    gp.random.seed(0)
    assert [bool((flip(img).asnumpy() == img.asnumpy()[:, ::-1]).all()) for _ in range(20)] == flipped


def test_transform_errors():
    with pytest.raises(NotImplementedError, match="interpolation=2 is not supported yet"):
        transforms.Resize(4, interpolation=2)
    with pytest.raises(ValueError, match="size must be a positive int or a \\(width, height\\)"):
        transforms.CenterCrop((3, 0))
    with pytest.raises(ValueError, match="mean has 2 values but the input has 3 channels"):
        transforms.Normalize(mean=(0.1, 0.2))(nd.zeros((3, 2, 2)))
    with pytest.raises(ValueError, match="ToTensor takes an image of shape H x W x C"):
        transforms.ToTensor()(nd.zeros((4, 4)))
    with pytest.raises(TypeError, match="takes an image NDArray"):
        transforms.Cast()([1, 2])


def test_compose_with_a_plain_function_and_transform_first():
    t = transforms.Compose([transforms.ToTensor(), lambda x: x * 2])
    ds = gdata.ArrayDataset(np.full((3, 2, 2, 1), 255, np.uint8), np.arange(3)).transform_first(t)
    x, y = next(iter(gdata.DataLoader(ds, batch_size=3)))
    assert x.shape == (3, 1, 2, 2) and x.dtype == np.float32
    np.testing.assert_array_equal(x.asnumpy(), 2.0)


# ----------------------------------------------------------------------------- file formats
def test_idx_round_trip_and_header(tmp_path):
    arr = np.arange(2 * 3 * 4, dtype=np.uint8).reshape(2, 3, 4)
    path = str(tmp_path / "x-idx3-ubyte.gz")
    formats.write_idx(path, arr)
    raw = gzip.open(path).read()
    assert raw[:4] == b"\x00\x00\x08\x03" and raw[4:16] == b"\x00\x00\x00\x02\x00\x00\x00\x03\x00\x00\x00\x04"
    np.testing.assert_array_equal(formats.read_idx(path), arr)
    ints = np.array([1, -2, 300000], dtype=np.int32)
    formats.write_idx(str(tmp_path / "i"), ints)
    assert (tmp_path / "i").read_bytes()[:8] == b"\x00\x00\x0c\x01\x00\x00\x00\x03"
    np.testing.assert_array_equal(formats.read_idx(str(tmp_path / "i")), ints)


def test_idx_errors_name_the_file(tmp_path):
    bad = tmp_path / "bad.gz"
    bad.write_bytes(gzip.compress(b"\x08\x03\x00\x00"))
    with pytest.raises(DatasetFormatError, match="bad.gz is not an IDX file"):
        formats.read_idx(str(bad))
    cut = tmp_path / "cut"
    cut.write_bytes(b"\x00\x00\x08\x01\x00\x00\x00\x05abc")
    with pytest.raises(DatasetFormatError, match="needs 13 bytes, the file has 11"):
        formats.read_idx(str(cut))
    notgz = tmp_path / "plain.gz"
    notgz.write_bytes(b"\x00\x00\x08\x01")
    with pytest.raises(DatasetFormatError, match="plain.gz: cannot be read as gzip"):
        formats.read_idx(str(notgz))


def _cifar_records(n, seed):
    rng = np.random.RandomState(seed)
    images = rng.randint(0, 256, size=(n, 32, 32, 3)).astype(np.uint8)
    labels = rng.randint(0, 10, size=n).astype(np.uint8)
    planes = images.transpose(0, 3, 1, 2).reshape(n, -1)    # R plane, G plane, B plane, row by row
    return images, labels, np.concatenate([labels[:, None], planes], axis=1).tobytes()


def test_cifar_binary_batch_layout(tmp_path):
    images, labels, raw = _cifar_records(3, 0)
    path = tmp_path / "data_batch_1.bin"
    path.write_bytes(raw)
    got_images, got_labels = formats.read_cifar_batch(str(path))
    np.testing.assert_array_equal(got_images, images)
    np.testing.assert_array_equal(got_labels, labels)
    assert got_labels.dtype == np.int32
    # Byte 1 of a record is the red value of pixel (0, 0); byte 1025 its green value.
    assert raw[1] == images[0, 0, 0, 0] and raw[1025] == images[0, 0, 0, 1]
    path.write_bytes(raw[:-5])
    with pytest.raises(DatasetFormatError, match="not a whole number of 3073-byte"):
        formats.read_cifar_batch(str(path))


# ----------------------------------------------------------------------------- datasets
def _sha1(data):
    return hashlib.sha1(data).hexdigest()


def _mnist_files(root, n=5):
    rng = np.random.RandomState(1)
    images = rng.randint(0, 256, size=(n, 28, 28)).astype(np.uint8)
    labels = rng.randint(0, 10, size=n).astype(np.uint8)
    root.mkdir(parents=True, exist_ok=True)
    table = {}
    for split in ("train", "test"):
        prefix = "train" if split == "train" else "t10k"
        names = (f"{prefix}-images-idx3-ubyte.gz", f"{prefix}-labels-idx1-ubyte.gz")
        formats.write_idx(str(root / names[0]), images)
        formats.write_idx(str(root / names[1]), labels)
        table[split] = tuple((name, _sha1((root / name).read_bytes())) for name in names)
    return images, labels, table


@pytest.mark.parametrize("cls", [MNIST, FashionMNIST])
def test_mnist_reads_the_idx_files(tmp_path, monkeypatch, cls):
    images, labels, table = _mnist_files(tmp_path)
    monkeypatch.setattr(cls, "files", table)
    monkeypatch.setattr(cls, "urls", ())
    ds = cls(root=str(tmp_path), train=False)
    assert len(ds) == 5
    x, y = ds[2]
    assert x.shape == (28, 28, 1) and x.dtype == np.uint8 and x.context == gp.cpu(0)
    np.testing.assert_array_equal(x.asnumpy()[..., 0], images[2])
    assert y == labels[2] and isinstance(y, np.int32)
    X, Y = next(iter(gdata.DataLoader(ds, batch_size=4)))
    assert X.shape == (4, 28, 28, 1) and Y.dtype == np.int32
    np.testing.assert_array_equal(Y.asnumpy(), labels[:4])
    tds = cls(root=str(tmp_path), transform=lambda d, lab: (d.astype("float32") / 255, lab * 10))
    x, y = tds[1]
    np.testing.assert_allclose(x.asnumpy()[..., 0], images[1] / 255, rtol=1e-6)
    assert y == labels[1] * 10
    X, Y = next(iter(gdata.DataLoader(tds, batch_size=5, num_workers=2)))
    np.testing.assert_array_equal(Y.asnumpy(), labels * 10)
    assert X.dtype == np.float32


def test_a_hand_placed_file_with_another_sha1_is_refused(tmp_path, monkeypatch):
    _, _, table = _mnist_files(tmp_path)
    monkeypatch.setattr(MNIST, "files", {"train": ((table["train"][0][0], "0" * 40), table["train"][1])})
    with pytest.raises(DatasetChecksumError, match="train-images-idx3-ubyte.gz has SHA-1 .* published SHA-1"):
        MNIST(root=str(tmp_path))


def _cifar_archive(root):
    members, files = {}, {}
    for split, names in (("train", ["data_batch_1.bin", "data_batch_2.bin"]), ("test", ["test_batch.bin"])):
        entries = []
        for k, name in enumerate(names):
            images, labels, raw = _cifar_records(2 + k, hash(name) % 1000)
            members[name] = (images, labels, raw)
            entries.append((name, _sha1(raw)))
        files[split] = tuple(entries)
    buf = io.BytesIO()
    with tarfile.open(fileobj=buf, mode="w:gz") as tar:
        for name, (_, _, raw) in members.items():
            info = tarfile.TarInfo(f"cifar-10-batches-bin/{name}")
            info.size = len(raw)
            tar.addfile(info, io.BytesIO(raw))
    archive = buf.getvalue()
    root.mkdir(parents=True, exist_ok=True)
    (root / "cifar-10-binary.tar.gz").write_bytes(archive)
    return members, files, archive


def test_cifar10_extracts_the_binary_archive(tmp_path, monkeypatch):
    members, files, archive = _cifar_archive(tmp_path)
    monkeypatch.setattr(CIFAR10, "files", files)
    monkeypatch.setattr(CIFAR10, "archive", ("cifar-10-binary.tar.gz", _sha1(archive)))
    monkeypatch.setattr(CIFAR10, "urls", ())
    train = CIFAR10(root=str(tmp_path))
    assert len(train) == 5 and (tmp_path / "data_batch_2.bin").exists()
    x, y = train[3]    # the second example of data_batch_2
    assert x.shape == (32, 32, 3) and x.dtype == np.uint8
    np.testing.assert_array_equal(x.asnumpy(), members["data_batch_2.bin"][0][1])
    assert y == members["data_batch_2.bin"][1][1]
    test = CIFAR10(root=str(tmp_path), train=False)
    np.testing.assert_array_equal(test[0][0].asnumpy(), members["test_batch.bin"][0][0])
    assert sorted(p.name for p in tmp_path.iterdir()) == [
        "cifar-10-binary.tar.gz", "data_batch_1.bin", "data_batch_2.bin", "test_batch.bin"]


# ----------------------------------------------------------------------------- downloads
class _Server:
    """A local HTTP server for the download tests: serves ``files``, honours ``Range`` unless told
    not to, and records the requests' Range headers."""

    def __init__(self, files, ranges=True):
        self.files, self.ranges, self.seen = files, ranges, []
        server = self

        class Handler(http.server.BaseHTTPRequestHandler):
            def do_GET(self):
                body = server.files.get(self.path.lstrip("/"))
                rng = self.headers.get("Range")
                server.seen.append((self.path, rng))
                if body is None:
                    self.send_error(404)
                    return
                start = int(rng[len("bytes="):].rstrip("-")) if rng and server.ranges else 0
                self.send_response(206 if start else 200)
                if start:
                    self.send_header("Content-Range", f"bytes {start}-{len(body) - 1}/{len(body)}")
                self.send_header("Content-Length", str(len(body) - start))
                self.end_headers()
                self.wfile.write(body[start:])

            def log_message(self, *args):
                pass

        self.httpd = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.url = f"http://127.0.0.1:{self.httpd.server_address[1]}/"
        self.thread = threading.Thread(target=self.httpd.serve_forever, daemon=True)

    def __enter__(self):
        self.thread.start()
        return self

    def __exit__(self, *exc):
        self.httpd.shutdown()
        self.httpd.server_close()


BODY = bytes(range(256)) * 40


def test_download_verifies_and_renames(tmp_path):
    with _Server({"f.bin": BODY}) as srv:
        path = download.fetch("f.bin", _sha1(BODY), [srv.url], str(tmp_path / "new"))
        assert pathlib.Path(path).read_bytes() == BODY
        assert os.listdir(tmp_path / "new") == ["f.bin"]
        download.fetch("f.bin", _sha1(BODY), [srv.url], str(tmp_path / "new"))
        assert len(srv.seen) == 1          # a verified file is not fetched again


@pytest.mark.parametrize("ranges", [True, False])
def test_download_resumes_a_partial_file(tmp_path, ranges):
    (tmp_path / "f.bin.part").write_bytes(BODY[:3000])
    with _Server({"f.bin": BODY}, ranges=ranges) as srv:
        path = download.fetch("f.bin", _sha1(BODY), [srv.url], str(tmp_path))
    assert srv.seen == [("/f.bin", "bytes=3000-")]
    assert pathlib.Path(path).read_bytes() == BODY     # a server without ranges restarts from 0
    assert not (tmp_path / "f.bin.part").exists()


def test_download_sha1_mismatch_leaves_nothing(tmp_path):
    with _Server({"f.bin": BODY[:-1] + b"!"}) as srv:
        with pytest.raises(DatasetChecksumError, match=f"f.bin has SHA-1 .* published SHA-1 of f.bin is "
                                                       f"{_sha1(BODY)}"):
            download.fetch("f.bin", _sha1(BODY), [srv.url], str(tmp_path))
    assert os.listdir(tmp_path) == []


def test_download_tries_the_next_url_and_names_every_failure(tmp_path):
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        dead = f"http://127.0.0.1:{s.getsockname()[1]}/"   # bound, not listening: refused
    with _Server({"f.bin": BODY}) as srv:
        assert pathlib.Path(download.fetch("f.bin", _sha1(BODY), [dead, srv.url],
                                           str(tmp_path))).read_bytes() == BODY
        with pytest.raises(DatasetDownloadError) as info:
            download.fetch("g.bin", "1" * 40, [dead, srv.url], str(tmp_path))
    message = str(info.value)
    assert dead + "g.bin" in message and srv.url + "g.bin: HTTP Error 404" in message
    assert f"put it at {tmp_path / 'g.bin'}" in message and "1" * 40 in message
    assert "GPUPARAMS_HOME" in message


def _dead_url():
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return f"http://127.0.0.1:{s.getsockname()[1]}/"   # bound, not listening: refused


def test_download_error_carries_its_parts(tmp_path):
    dead = _dead_url()
    with pytest.raises(DatasetDownloadError) as info:
        download.fetch("g.bin", "2" * 40, [dead], str(tmp_path))
    err = info.value
    assert (err.file, err.target, err.sha1) == ("g.bin", str(tmp_path / "g.bin"), "2" * 40)
    assert [url for url, _ in err.failures] == [dead + "g.bin"]
    assert all("\n" not in why and why for _, why in err.failures)


def test_a_failed_download_removes_only_the_folders_it_created(tmp_path):
    dead = _dead_url()
    (tmp_path / "home").mkdir()
    root = tmp_path / "home" / "datasets" / "mnist"          # datasets/ and mnist/ are new
    with pytest.raises(DatasetDownloadError):
        download.fetch("g.bin", "1" * 40, [dead], str(root))
    assert os.listdir(tmp_path) == ["home"] and os.listdir(tmp_path / "home") == []
    # A folder that was there before stays, even when it is empty.
    (tmp_path / "home" / "empty").mkdir()
    with pytest.raises(DatasetDownloadError):
        download.fetch("g.bin", "1" * 40, [dead], str(tmp_path / "home" / "empty"))
    assert os.listdir(tmp_path / "home") == ["empty"]


def test_a_failed_checksum_removes_the_new_folders_too(tmp_path):
    with _Server({"f.bin": BODY[:-1] + b"!"}) as srv:
        with pytest.raises(DatasetChecksumError):
            download.fetch("f.bin", _sha1(BODY), [srv.url], str(tmp_path / "a" / "b"))
    assert os.listdir(tmp_path) == []


def test_a_partial_file_keeps_its_folders_for_the_next_attempt(tmp_path, monkeypatch):
    real = download._download

    def cut_short(url, part, timeout):  # the connection drops after 100 bytes
        real(url, part, timeout)
        with open(part, "r+b") as f:
            f.truncate(100)
        raise OSError(f"connection closed after 100 of {len(BODY)} bytes (run again to resume)")
    monkeypatch.setattr(download, "_download", cut_short)
    with _Server({"f.bin": BODY}) as srv:
        with pytest.raises(DatasetDownloadError, match="run again to resume"):
            download.fetch("f.bin", _sha1(BODY), [srv.url], str(tmp_path / "new"))
    assert os.listdir(tmp_path / "new") == ["f.bin.part"]


def test_mnist_downloads_from_its_urls(tmp_path, monkeypatch):
    src = tmp_path / "src"
    images, labels, table = _mnist_files(src, n=3)
    served = {name: (src / name).read_bytes() for pair in table.values() for name, _ in pair}
    monkeypatch.setattr(MNIST, "files", table)
    with _Server(served) as srv:
        monkeypatch.setattr(MNIST, "urls", (srv.url,))
        ds = MNIST(root=str(tmp_path / "root"))
    np.testing.assert_array_equal(ds[2][0].asnumpy()[..., 0], images[2])
    assert sorted(p for p, _ in srv.seen) == ["/train-images-idx3-ubyte.gz", "/train-labels-idx1-ubyte.gz"]


def test_default_root_comes_from_gpuparams_home_read_once(tmp_path):
    code = ("import os; from gpuparams.data import download as d; a = d.dataset_dir('mnist'); "
            "os.environ['GPUPARAMS_HOME'] = '/elsewhere'; print(a); print(d.dataset_dir('mnist'))")
    env = dict(os.environ, GPUPARAMS_HOME=str(tmp_path))
    out = subprocess.run([sys.executable, "-c", code], env=env, capture_output=True, text=True, check=True)
    want = os.path.join(str(tmp_path), "datasets", "mnist")
    assert out.stdout.split() == [want, want]


# ----------------------------------------------------------------------------- the train command
def _train(argv, capsys):
    from gpuparams.__main__ import main
    code = main(["train", *argv])
    out = capsys.readouterr()
    return code, out.out, out.err


def test_train_on_fashion_mnist_files(tmp_path, monkeypatch, capsys):
    root = tmp_path / "fm"
    rng = np.random.RandomState(0)
    labels = np.arange(40, dtype=np.uint8) % 2
    images = (rng.rand(40, 28, 28) * 60).astype(np.uint8)
    images[labels == 1, :, :14] += 150     # class 1 is bright on the left: learnable in a few epochs
    root.mkdir()
    formats.write_idx(str(root / "train-images-idx3-ubyte.gz"), images)
    formats.write_idx(str(root / "train-labels-idx1-ubyte.gz"), labels)
    table = {"train": tuple((n, _sha1((root / n).read_bytes()))
                            for n in ("train-images-idx3-ubyte.gz", "train-labels-idx1-ubyte.gz"))}
    monkeypatch.setattr(FashionMNIST, "files", table)
    monkeypatch.setattr(FashionMNIST, "urls", ())
    code, out, err = _train(["--dataset", "fashion-mnist", "--dataset-root", str(root), "--epochs", "3",
                             "--hidden", "16", "--ctx", "cpu", "--out", str(tmp_path / "m.npz"),
                             "--no-progress"], capsys)
    assert code == 0, err
    assert f"fashion-mnist (40 training images from {root})" in out
    record = json.loads((tmp_path / "m.json").read_text())
    assert record["data"] == "dataset:fashion-mnist" and record["features"] == 784
    assert record["history"][-1]["accuracy"] >= 0.9


def test_train_says_where_to_put_missing_files(tmp_path, monkeypatch, capsys):
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        dead = f"http://127.0.0.1:{s.getsockname()[1]}/"
    monkeypatch.setattr(FashionMNIST, "urls", (dead,))
    code, out, err = _train(["--dataset", "fashion-mnist", "--dataset-root", str(tmp_path / "none"),
                             "--out", str(tmp_path / "m.npz")], capsys)
    assert code == 2
    assert dead + "train-images-idx3-ubyte.gz" in err
    assert f"put it at {tmp_path / 'none' / 'train-images-idx3-ubyte.gz'}" in err
    code, _, err = _train(["--dataset", "mnist", "--data", "x.csv"], capsys)
    assert code == 2 and "--dataset cannot be combined with --data" in err


def test_resize_keep_ratio_with_a_pair_resizes_to_the_pair_as_mxnet():
    # MXNet 1.9.1: Resize((4, 3), keep_ratio=True) on a 6 x 9 image gives shape (3, 4, 3), the same
    # pixels as without keep_ratio (keep_ratio only applies to an int size).
    img = nd.array(np.random.RandomState(0).randint(0, 256, (6, 9, 3)), dtype="uint8")
    kept = transforms.Resize((4, 3), keep_ratio=True)(img)
    assert kept.shape == (3, 4, 3) and kept.dtype == np.uint8
    np.testing.assert_array_equal(kept.asnumpy(), transforms.Resize((4, 3))(img).asnumpy())
    assert transforms.Resize(4, keep_ratio=True)(img).shape == (4, 6, 3)
    for bad in (0, -2, 2.5, (4, 0)):
        with pytest.raises(ValueError, match=r"Resize: size must be a positive int or a \(width, height\)"):
            transforms.Resize(bad, keep_ratio=True)


@pytest.mark.parametrize("dtype", ["float16", "float32", "float64"])
def test_normalize_keeps_a_float_dtype_as_mxnet(dtype):
    # MXNet 1.9.1: Normalize(0.5, 0.2) of a (3, 4, 4) image of 2s keeps the dtype; each value is
    # (2 - 0.5) / float32(0.2): 7.5 in float16 and float32, 7.499999888241293 in float64.
    x = nd.ones((3, 4, 4), dtype=dtype) * 2
    out = transforms.Normalize(0.5, 0.2)(x)
    assert out.dtype == np.dtype(dtype)
    want = (2.0 - 0.5) / np.float64(np.float32(0.2))
    rtol = 1e-3 if dtype == "float16" else 1e-7
    np.testing.assert_allclose(out.asnumpy().astype(np.float64), want, rtol=rtol)
    ints = transforms.Normalize(0.5, 0.2)(nd.ones((3, 2, 2), dtype="int32") * 2)
    assert ints.dtype == np.float32 and np.allclose(ints.asnumpy(), want)

"""serialization.save_arrays / load_arrays: round trips, atomic writes, corrupt files, no pickle."""
import os
import pickle
import zipfile

import numpy as np
import pytest

from gpuparams import serialization
from gpuparams.serialization import ArrayFileError, load_arrays, save_arrays


@pytest.fixture
def no_pickle(monkeypatch):
    """Make any use of pickle fail loudly."""
    def refuse(*args, **kwargs):
        raise AssertionError("pickle was used")
    for name in ("load", "loads", "dump", "dumps", "Unpickler", "Pickler"):
        monkeypatch.setattr(pickle, name, refuse)


def _sample():
    rng = np.random.default_rng(0)
    return {
        "0.weight": rng.standard_normal((4, 3)).astype(np.float32),
        "0.bias": np.zeros(4, np.float32),
        "hidden.weight": rng.standard_normal((2, 2)),
        "counts": np.arange(5, dtype=np.int64),
        "bytes": np.arange(3, dtype=np.uint8),
        "scalar": np.array(3.5, dtype=np.float16),
        "empty": np.zeros((0, 7), np.float32),
        "fortran": np.asfortranarray(np.arange(6, dtype=np.int32).reshape(2, 3)),
    }


def test_round_trip_keeps_names_dtypes_shapes_and_values(tmp_path, no_pickle):
    path = tmp_path / "params.npz"
    arrays = _sample()
    save_arrays(path, arrays)
    loaded = load_arrays(path)
    assert list(loaded) == list(arrays)
    for name, value in arrays.items():
        assert loaded[name].dtype == value.dtype and loaded[name].shape == value.shape, name
        np.testing.assert_array_equal(loaded[name], value)
    assert not (tmp_path / "params.npz.npz").exists()  # the name is used as given
    assert os.listdir(tmp_path) == ["params.npz"]  # no temporary file left behind


def test_the_file_is_a_standard_uncompressed_npz(tmp_path):
    path = str(tmp_path / "f.npz")
    save_arrays(path, {"a": np.arange(3.0), "b": np.ones((2, 2), np.float32)})
    with zipfile.ZipFile(path) as z:
        assert sorted(z.namelist()) == ["a.npy", "b.npy"]
        assert all(info.compress_type == zipfile.ZIP_STORED for info in z.infolist())
    with np.load(path, allow_pickle=False) as f:
        np.testing.assert_array_equal(f["b"], np.ones((2, 2)))


def test_entry_names_that_clash_with_np_savez_arguments(tmp_path):
    # np.savez(f, **arrays) takes an entry called 'file' or 'allow_pickle' for its own argument.
    path = tmp_path / "clash.npz"
    arrays = {"file": np.arange(3.0), "allow_pickle": np.ones(2, np.float32), "args": np.zeros(1)}
    save_arrays(path, arrays)
    loaded = load_arrays(path)
    assert sorted(loaded) == sorted(arrays)
    for name, value in arrays.items():
        np.testing.assert_array_equal(loaded[name], value)


def test_save_replaces_an_existing_file(tmp_path):
    path = tmp_path / "p.npz"
    save_arrays(path, {"a": np.zeros(2)})
    save_arrays(path, {"b": np.ones(3)})
    loaded = load_arrays(path)
    assert list(loaded) == ["b"] and loaded["b"].tolist() == [1.0, 1.0, 1.0]


def test_an_exception_mid_write_leaves_the_old_file(tmp_path, monkeypatch):
    path = tmp_path / "p.npz"
    save_arrays(path, {"w": np.arange(4.0)})
    before = path.read_bytes()
    real_write = np.lib.format.write_array
    calls = []

    def failing_write(fp, array, *args, **kwargs):
        calls.append(1)
        if len(calls) == 2:  # the first array is already in the temporary file
            raise OSError("disk full")
        return real_write(fp, array, *args, **kwargs)

    monkeypatch.setattr(np.lib.format, "write_array", failing_write)
    with pytest.raises(OSError, match="disk full"):
        save_arrays(path, {"w": np.zeros(4), "v": np.zeros(2)})
    assert len(calls) == 2
    assert path.read_bytes() == before
    assert os.listdir(tmp_path) == ["p.npz"]
    np.testing.assert_array_equal(load_arrays(path)["w"], np.arange(4.0))


def test_a_failing_rename_leaves_the_old_file_and_no_temporary(tmp_path, monkeypatch):
    path = tmp_path / "p.npz"
    save_arrays(path, {"w": np.arange(4.0)})

    def failing_replace(src, dst):
        raise KeyboardInterrupt

    monkeypatch.setattr(serialization.os, "replace", failing_replace)
    with pytest.raises(KeyboardInterrupt):
        save_arrays(path, {"w": np.zeros(4)})
    monkeypatch.undo()
    assert os.listdir(tmp_path) == ["p.npz"]
    np.testing.assert_array_equal(load_arrays(path)["w"], np.arange(4.0))


@pytest.mark.parametrize("value", [np.array([1, "a"], dtype=object), np.array([None]), [1.0, 2.0], 3.0],
                         ids=["object", "none-object", "list", "float"])
def test_non_numeric_entries_are_refused_before_anything_is_written(tmp_path, value):
    path = tmp_path / "p.npz"
    with pytest.raises(TypeError, match="'bad'"):
        save_arrays(path, {"ok": np.zeros(2), "bad": value})
    assert os.listdir(tmp_path) == []


def test_non_string_names_are_refused(tmp_path):
    with pytest.raises(TypeError, match="strings"):
        save_arrays(tmp_path / "p.npz", {0: np.zeros(2)})


def test_saving_into_a_missing_folder(tmp_path):
    with pytest.raises(FileNotFoundError, match="does not exist"):
        save_arrays(tmp_path / "nope" / "p.npz", {"a": np.zeros(1)})


def test_loading_a_missing_file(tmp_path):
    with pytest.raises(FileNotFoundError):
        load_arrays(tmp_path / "missing.npz")


@pytest.mark.parametrize("keep", [0, 10, 40, 0.5, 0.9, -1])
def test_truncated_files_raise_array_file_error(tmp_path, keep, no_pickle):
    good = tmp_path / "good.npz"
    save_arrays(good, _sample())
    data = good.read_bytes()
    cut = int(len(data) * keep) if isinstance(keep, float) else (len(data) + keep if keep < 0 else keep)
    bad = tmp_path / "bad.npz"
    bad.write_bytes(data[:cut])
    with pytest.raises(ArrayFileError, match="bad.npz"):
        load_arrays(bad)


def test_corrupt_member_raises_array_file_error(tmp_path, no_pickle):
    good = tmp_path / "good.npz"
    save_arrays(good, {"w": np.arange(100.0)})
    data = bytearray(good.read_bytes())
    start = data.index(b"\x93NUMPY")  # the .npy header inside the zip member
    data[start:start + 6] = b"XXXXXX"
    bad = tmp_path / "bad.npz"
    bad.write_bytes(bytes(data))
    with pytest.raises(ArrayFileError):
        load_arrays(bad)


def test_flipped_payload_bytes_fail_the_crc_check(tmp_path, no_pickle):
    good = tmp_path / "good.npz"
    save_arrays(good, {"w": np.arange(100.0)})
    data = bytearray(good.read_bytes())
    start = data.index(b"\x93NUMPY") + 200  # inside the array's data
    data[start] ^= 0xFF
    bad = tmp_path / "bad.npz"
    bad.write_bytes(bytes(data))
    with pytest.raises(ArrayFileError):
        load_arrays(bad)


@pytest.mark.parametrize("content", [b"", b"not a zip file at all", b"PK\x03\x04garbage"], ids=repr)
def test_garbage_files_raise_array_file_error(tmp_path, content, no_pickle):
    bad = tmp_path / "bad.npz"
    bad.write_bytes(content)
    with pytest.raises(ArrayFileError):
        load_arrays(bad)


def test_a_single_npy_file_raises_array_file_error(tmp_path, no_pickle):
    path = tmp_path / "one.npz"
    with open(path, "wb") as f:
        np.save(f, np.arange(3.0))
    with pytest.raises(ArrayFileError, match=r"\.npy"):
        load_arrays(path)


def test_a_pickle_file_is_refused_without_unpickling(tmp_path, monkeypatch):
    path = tmp_path / "evil.npz"
    with open(path, "wb") as f:
        pickle.dump({"w": np.zeros(2)}, f)
    called = []
    monkeypatch.setattr(pickle, "load", lambda *a, **k: called.append(1))
    monkeypatch.setattr(pickle, "loads", lambda *a, **k: called.append(1))
    with pytest.raises(ArrayFileError):
        load_arrays(path)
    assert called == []


def test_an_npz_holding_an_object_array_is_refused_without_unpickling(tmp_path, no_pickle):
    # What np.savez writes for an object array (a .npy member whose payload is a pickle stream),
    # built by hand so that this test itself never needs pickle.
    path = tmp_path / "objects.npz"
    with zipfile.ZipFile(path, "w") as z:
        with z.open("ok.npy", "w") as member:
            np.lib.format.write_array(member, np.zeros(2))
        header = {"descr": "|O", "fortran_order": False, "shape": (1,)}
        with z.open("obj.npy", "w") as member:
            np.lib.format.write_array_header_1_0(member, header)
            member.write(b"\x80\x04N.")  # a pickle stream (of None)
    with pytest.raises(ArrayFileError, match="objects.npz"):
        load_arrays(path)


def test_array_file_error_is_a_value_error():
    assert issubclass(ArrayFileError, ValueError)

"""Files people can share and crashes they can survive: temporary files named after their target and
cleaned up, modes that follow the umask (or the replaced file), and a SIGKILL in the middle of saving
a 100 MB model that leaves the previous file loadable."""
import os
import re
import stat
import subprocess
import sys
import textwrap
import time

import numpy as np
import pytest

from conftest import REPO
from gpuparams import init, nd
from gpuparams.gluon import nn
from gpuparams.serialization import atomic_write, load_arrays, save_arrays, temporary_prefix


def _dead_pid():
    """The id of a process that has exited and been reaped."""
    child = subprocess.Popen([sys.executable, "-c", "pass"])
    child.wait()
    return child.pid


def test_the_temporary_file_is_named_after_its_target(tmp_path):
    path = tmp_path / "model.npz"
    seen = []

    def write(f):
        seen.extend(os.listdir(tmp_path))
        f.write(b"x")
    atomic_write(path, write)
    assert len(seen) == 1
    assert re.fullmatch(rf"\.model\.npz\.tmp-{os.getpid()}-[0-9a-f]{{8}}", seen[0]), seen
    assert seen[0].startswith(temporary_prefix(path))
    assert os.listdir(tmp_path) == ["model.npz"]


def test_stale_temporaries_of_the_same_target_go_at_the_next_save(tmp_path):
    dead = _dead_pid()
    stale = tmp_path / f".model.npz.tmp-{dead}-0badf00d"
    stale.write_bytes(b"half a model")
    other_target = tmp_path / f".other.npz.tmp-{dead}-0badf00d"
    other_target.write_bytes(b"someone else's")
    live = tmp_path / f".model.npz.tmp-{os.getppid()}-12345678"  # a process that still runs
    live.write_bytes(b"being written right now")
    save_arrays(tmp_path / "model.npz", {"w": np.arange(3.0)})
    assert not stale.exists()
    assert other_target.exists() and live.exists()
    np.testing.assert_array_equal(load_arrays(tmp_path / "model.npz")["w"], np.arange(3.0))


@pytest.mark.parametrize("umask, expected", [(0o022, 0o644), (0o077, 0o600), (0o002, 0o664)])
def test_a_new_file_gets_the_mode_the_umask_gives(tmp_path, umask, expected):
    old = os.umask(umask)
    try:
        save_arrays(tmp_path / "m.npz", {"w": np.zeros(2)})
        with open(tmp_path / "plain", "w"):
            pass  # what any other program would create
    finally:
        os.umask(old)
    assert stat.S_IMODE(os.stat(tmp_path / "m.npz").st_mode) == expected
    assert stat.S_IMODE(os.stat(tmp_path / "plain").st_mode) == expected


def test_replacing_a_file_keeps_its_mode(tmp_path):
    path = tmp_path / "m.npz"
    save_arrays(path, {"w": np.zeros(2)})
    os.chmod(path, 0o640)
    net = nn.Dense(2, in_units=2)
    net.initialize()
    net.save_parameters(path)
    assert stat.S_IMODE(os.stat(path).st_mode) == 0o640
    assert sorted(load_arrays(path)) == ["bias", "weight"]


def _dense_with(value):
    net = nn.Dense(2, in_units=3)
    net.initialize(init.Constant(value))
    return net


def test_saving_through_a_symlink_replaces_its_target_and_keeps_the_link(tmp_path):
    # What `open(link, "w")` (and every editor's save) does: the link stays, the file it names changes.
    (tmp_path / "store").mkdir()
    (tmp_path / "current").mkdir()
    target = tmp_path / "store" / "v1.npz"
    link = tmp_path / "current" / "model.npz"
    _dense_with(1.0).save_parameters(target)
    os.chmod(target, 0o640)
    os.symlink(os.path.join("..", "store", "v1.npz"), link)   # a relative link, kept as written
    target_inode = os.stat(target).st_ino
    _dense_with(3.0).save_parameters(link)
    assert os.path.islink(link) and os.readlink(link) == os.path.join("..", "store", "v1.npz")
    np.testing.assert_array_equal(load_arrays(target)["weight"], np.full((2, 3), 3.0, np.float32))
    assert os.stat(target).st_ino != target_inode   # replaced by a rename (atomic), not rewritten in place
    assert stat.S_IMODE(os.stat(target).st_mode) == 0o640
    # The temporary lived beside the target (a rename cannot cross file systems) and is gone.
    assert os.listdir(tmp_path / "store") == ["v1.npz"] and os.listdir(tmp_path / "current") == ["model.npz"]
    loaded = nn.Dense(2, in_units=3)
    loaded.load_parameters(link)
    np.testing.assert_array_equal(loaded.weight.data().asnumpy(), np.full((2, 3), 3.0, np.float32))


def test_saving_through_a_chain_of_links_and_a_dangling_link(tmp_path):
    target = tmp_path / "real.npz"
    os.symlink("real.npz", tmp_path / "b.npz")
    os.symlink("b.npz", tmp_path / "a.npz")        # a -> b -> real.npz, which does not exist yet
    save_arrays(tmp_path / "a.npz", {"w": np.arange(4.0)})
    assert os.path.islink(tmp_path / "a.npz") and os.path.islink(tmp_path / "b.npz")
    np.testing.assert_array_equal(load_arrays(target)["w"], np.arange(4.0))
    nd.save(str(tmp_path / "a.npz"), {"x": nd.ones((2,))})   # nd.save writes through the links too
    assert os.path.islink(tmp_path / "a.npz") and sorted(load_arrays(target)) == ["x"]
    assert sorted(os.listdir(tmp_path)) == ["a.npz", "b.npz", "real.npz"]


def test_an_exception_in_the_writer_removes_our_temporary(tmp_path):
    def write(f):
        f.write(b"partial")
        raise ValueError("boom")
    with pytest.raises(ValueError, match="boom"):
        atomic_write(tmp_path / "m.npz", write)
    assert os.listdir(tmp_path) == []


_CHILD = textwrap.dedent("""
    import sys
    from gpuparams import init
    from gpuparams.gluon import nn
    net = nn.Dense(5120, in_units=5120, use_bias=False)   # 26.2 M float32 = 105 MB
    net.initialize(init.Constant(2.0))
    print("ready", flush=True)
    sys.stdin.readline()
    net.save_parameters(sys.argv[1])
    print("saved", flush=True)
""")


def _temporaries(folder, target):
    return [n for n in os.listdir(folder) if n.startswith(temporary_prefix(target))]


def test_sigkill_mid_save_of_a_100mb_model_keeps_the_old_file(tmp_path):
    path = tmp_path / "big.npz"
    net = nn.Dense(5120, in_units=5120, use_bias=False)
    net.initialize(init.Constant(1.0))
    net.save_parameters(path)
    size = os.path.getsize(path)
    assert size >= 100 * 1000 * 1000
    env = dict(os.environ, PYTHONPATH=REPO + os.pathsep + os.environ.get("PYTHONPATH", ""))
    killed_mid_save = 0
    for attempt in range(4):  # bounded: each round writes the model once or twice
        with subprocess.Popen([sys.executable, "-c", _CHILD, str(path)], stdin=subprocess.PIPE,
                              stdout=subprocess.PIPE, text=True, env=env) as child:
            try:
                assert child.stdout.readline().strip() == "ready"
                child.stdin.write("go\n")
                child.stdin.flush()
                deadline = time.monotonic() + 60
                temp = None
                while time.monotonic() < deadline and child.poll() is None:
                    names = _temporaries(tmp_path, path)
                    if names and os.path.getsize(tmp_path / names[0]) > size // (4 - attempt % 3):
                        temp = names[0]
                        break
                    time.sleep(0.0005)
            finally:
                child.kill()  # SIGKILL: no handler, no cleanup, as a crash or the OOM killer
                child.wait()  # reaped, so its pid no longer runs
        stored = load_arrays(path)["weight"]
        if temp is not None and (tmp_path / temp).exists():
            # Killed before its rename: the temporary is left behind, and the old model intact.
            killed_mid_save += 1
            np.testing.assert_array_equal(stored, 1.0)
        else:  # the child's save completed first: the new file is whole
            assert np.all(stored == 1.0) or np.all(stored == 2.0)
        net.save_parameters(path)  # the next save of the same target sweeps the stale temporary
        assert _temporaries(tmp_path, path) == []
        np.testing.assert_array_equal(load_arrays(path)["weight"], 1.0)
        if killed_mid_save >= 2:
            break
    assert killed_mid_save >= 1, "never caught the child in the middle of a save"
    assert sorted(os.listdir(tmp_path)) == ["big.npz"]


def test_nd_save_names_the_path_when_the_target_is_a_folder(tmp_path):
    (tmp_path / "out").mkdir()
    with pytest.raises(IsADirectoryError, match=re.escape(str(tmp_path / "out"))):
        nd.save(tmp_path / "out", [nd.zeros((2,))])
    assert os.listdir(tmp_path / "out") == []


def _pipe_contents(fd):
    """What is buffered in the pipe behind ``fd`` (opened O_RDWR, so reads never see an end)."""
    os.set_blocking(fd, False)
    chunks = []
    while True:
        try:
            chunk = os.read(fd, 65536)
        except BlockingIOError:
            return b"".join(chunks)
        chunks.append(chunk)


@pytest.mark.skipif(not hasattr(os, "mkfifo"), reason="needs named pipes")
def test_saving_into_a_named_pipe_writes_into_it_instead_of_replacing_it(tmp_path):
    # A device or pipe is not a file to replace: the rename of the atomic save would put a regular
    # file in its place (for root, save_parameters('/dev/null') replaced /dev/null itself).
    fifo = tmp_path / "stream.npz"
    os.mkfifo(fifo)
    keeper = os.open(fifo, os.O_RDWR)  # a reader (and writer) that never blocks the save
    try:
        _dense_with(2.5).save_parameters(fifo)
        assert stat.S_ISFIFO(os.lstat(fifo).st_mode)
        received = tmp_path / "received.npz"
        received.write_bytes(_pipe_contents(keeper))
    finally:
        os.close(keeper)
    np.testing.assert_array_equal(load_arrays(received)["weight"], np.full((2, 3), 2.5, np.float32))
    assert sorted(os.listdir(tmp_path)) == ["received.npz", "stream.npz"]  # no temporary either


@pytest.mark.skipif(not hasattr(os, "geteuid") or os.geteuid() != 0, reason="mknod needs root")
def test_saving_onto_a_device_node_writes_into_the_device(tmp_path):
    null = tmp_path / "null"
    os.mknod(null, 0o666 | stat.S_IFCHR, os.makedev(1, 3))  # a second /dev/null
    _dense_with(1.0).save_parameters(null)
    nd.save(str(null), {"x": nd.ones((2,))})
    assert stat.S_ISCHR(os.lstat(null).st_mode) and os.path.getsize(null) == 0
    assert os.listdir(tmp_path) == ["null"]

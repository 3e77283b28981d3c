"""The restricted unpickler reads the arrays of Keras's data files and
refuses anything that would run code, without running it."""
import io
import os
import pickle
import struct
import subprocess

import numpy as np
import pytest

from pynn.datasets._safe_pickle import load_npz, unpickle


def object_array(lists):
    out = np.empty(len(lists), dtype=object)
    for i, s in enumerate(lists):
        out[i] = s
    return out


class RunsCode:
    """Unpickling this calls ``fn(*args)``: the classic pickle exploit."""

    def __init__(self, fn, *args):
        self.fn, self.args = fn, args

    def __reduce__(self):
        return self.fn, self.args


def test_reads_object_and_numeric_arrays(tmp_path):
    path = tmp_path / "ragged.npz"
    x = object_array([[1, 14, 22], [1, 194], [], [1, 14, 47, 8]])
    np.savez(path, x=x, y=np.array([1, 0, 0, 1]), w=np.ones((3, 4), np.float32))
    arrays = load_npz(path)
    assert set(arrays) == {"x", "y", "w"}
    assert arrays["x"].dtype == object and arrays["x"].shape == (4,)
    assert [list(s) for s in arrays["x"]] == [[1, 14, 22], [1, 194], [], [1, 14, 47, 8]]
    assert all(type(s) is list for s in arrays["x"])
    np.testing.assert_array_equal(arrays["y"], [1, 0, 0, 1])
    assert arrays["w"].dtype == np.float32 and arrays["w"].shape == (3, 4)


def test_reads_compressed_npz(tmp_path):
    path = tmp_path / "c.npz"
    np.savez_compressed(path, x=object_array([[3], [4, 5]]))
    assert [list(s) for s in load_npz(path)["x"]] == [[3], [4, 5]]


def test_refuses_os_system_in_npz_without_running_it(tmp_path):
    marker = tmp_path / "marker"
    payload = np.empty(1, dtype=object)
    payload[0] = RunsCode(os.system, f"touch {marker}")
    path = tmp_path / "evil.npz"
    np.savez(path, x=payload)
    with pytest.raises(pickle.UnpicklingError, match="refusing to load .*system"):
        load_npz(path)
    assert not marker.exists()


@pytest.mark.parametrize("fn, args", [(eval, ("__import__('os').getpid()",)),
                                      (subprocess.call, (["true"],)),
                                      (np.load, ("x.npy",)),
                                      (open, ("/etc/passwd",))])
def test_refuses_any_other_callable(fn, args):
    data = pickle.dumps([1, RunsCode(fn, *args)], protocol=2)
    with pytest.raises(pickle.UnpicklingError, match="refusing"):
        unpickle(data)


def test_refuses_persistent_ids():
    class Persisting(pickle.Pickler):
        def persistent_id(self, obj):
            return "x" if obj == "secret" else None
    buffer = io.BytesIO()
    Persisting(buffer, protocol=2).dump(["secret"])
    with pytest.raises(pickle.UnpicklingError, match="persistent"):
        unpickle(buffer.getvalue())


def test_header_and_pickle_must_agree(tmp_path):
    """An object .npy whose header promises 2 items but whose pickle holds
    3 is rejected."""
    path = tmp_path / "lying.npz"
    import zipfile
    buffer = io.BytesIO()
    np.lib.format.write_array_header_1_0(
        buffer, {"descr": "|O", "fortran_order": False, "shape": (2,)})
    pickle.dump(object_array([[1], [2], [3]]), buffer, protocol=3)
    with zipfile.ZipFile(path, "w") as z:
        z.writestr("x.npy", buffer.getvalue())
    with pytest.raises(ValueError, match="does not match its header"):
        load_npz(path)


def test_not_a_zip(tmp_path):
    path = tmp_path / "junk.npz"
    path.write_bytes(b"not a zip file at all")
    with pytest.raises(ValueError, match="not a readable .npz"):
        load_npz(path)


def test_python2_strings_read_as_bytes():
    """CIFAR's batches were pickled by Python 2, whose str is pickled as
    BINSTRING; with encoding='bytes' those come back as bytes."""
    n = len(b"data")
    data = (b"\x80\x02}q\x00(U" + bytes([n]) + b"data" + b"q\x01]q\x02(K\x01K\x02eu.")
    assert unpickle(data, encoding="bytes") == {b"data": [1, 2]}


def test_python2_numpy_array_pickle():
    """A uint8 array as Python 2's cPickle wrote it into CIFAR's batches:
    numpy.core.multiarray._reconstruct, numpy.ndarray and numpy.dtype with
    str arguments."""
    raw = bytes(range(6))
    data = (b"\x80\x02cnumpy.core.multiarray\n_reconstruct\nq\x01cnumpy\nndarray\nq\x02K\x00"
            b"\x85U\x01b\x87Rq\x03(K\x01K\x02K\x03\x86cnumpy\ndtype\nq\x04U\x02u1K\x00K\x01"
            b"\x87Rq\x05(K\x03U\x01|NNNJ\xff\xff\xff\xffJ\xff\xff\xff\xffK\x00tb\x89U"
            + bytes([len(raw)]) + raw + b"tb.")
    array = unpickle(data, encoding="bytes")
    assert array.dtype == np.uint8
    np.testing.assert_array_equal(array, np.arange(6, dtype=np.uint8).reshape(2, 3))


def test_long_python2_string():
    # A long Python 2 str uses BINSTRING with a 4-byte length.
    payload = b"x" * 300
    data = b"\x80\x02T" + struct.pack("<i", len(payload)) + payload + b"."
    assert unpickle(data, encoding="bytes") == payload

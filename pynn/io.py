"""TensorFlow's ``tf.io`` (files as bytes, the image decoders, ``gfile``)
for input pipelines ported with ``import pynn as tf``.  Paths are local
files (TensorFlow's ``gs://`` and other file systems are not read)."""
import glob as _glob
import os
import shutil
import types

import numpy as np

from . import ops
from .tensor import eager
from .utils.dataset import decode_csv
from .records import (FixedLenFeature, FixedLenSequenceFeature, RaggedFeature,
                      TFRecordOptions, TFRecordWriter, VarLenFeature, parse_example,
                      parse_single_example, parse_single_sequence_example, parse_tensor,
                      serialize_sparse, serialize_tensor)
from .image import (decode_bmp, decode_gif, decode_image, decode_jpeg, decode_png,
                    encode_jpeg, encode_png)


def _path(filename, who):
    v = filename
    if not isinstance(v, (str, bytes, os.PathLike)):
        v = np.asarray(ops.convert_to_numpy(v))
        v = v.item() if v.ndim == 0 else v
    if isinstance(v, bytes):
        v = v.decode()
    if not isinstance(v, (str, os.PathLike)):
        raise TypeError(f"tf.io.{who}: expected a file name, got {filename!r}")
    return os.fspath(v)


def read_file(filename, name=None):
    """The file's contents: a 0-d object tensor holding its bytes (what
    tf.image.decode_* and tf.strings take)."""
    with open(_path(filename, "read_file"), "rb") as f:
        return eager(np.asarray(f.read(), dtype=object))


def write_file(filename, contents, name=None):
    """Write ``contents`` (bytes, a str or a 0-d tensor of them) to the
    file, replacing it; the file is written beside and renamed into place."""
    path = _path(filename, "write_file")
    data = contents
    if not isinstance(data, (bytes, str)):
        data = np.asarray(ops.convert_to_numpy(data))
        data = data.item() if data.ndim == 0 else data
    if isinstance(data, str):
        data = data.encode()
    if not isinstance(data, bytes):
        raise TypeError(f"tf.io.write_file: contents must be bytes or a str, got "
                        f"{type(contents).__name__}")
    tmp = path + ".tmp"
    with open(tmp, "wb") as f:
        f.write(data)
    os.replace(tmp, path)


def decode_raw(input_bytes, out_type, little_endian=True, fixed_length=None, name=None):
    """Each string's bytes read as numbers of ``out_type``: shape
    ``input_bytes.shape + [n]``.  The strings must be of one length, or
    ``fixed_length`` bytes long (cut, or padded with zeros)."""
    from .dtypes import as_dtype
    strings = np.asarray(ops.convert_to_numpy(input_bytes), dtype=object)
    dtype = np.dtype(as_dtype(out_type).as_numpy_dtype).newbyteorder("<" if little_endian
                                                                     else ">")
    raw = [v.encode() if isinstance(v, str) else bytes(v) for v in strings.reshape(-1)]
    if fixed_length is not None:
        n = int(fixed_length)
        raw = [b[:n].ljust(n, b"\0") for b in raw]
    lengths = {len(b) for b in raw}
    if len(lengths) > 1:
        raise ValueError(f"tf.io.decode_raw: the strings differ in length "
                         f"({sorted(lengths)}); give fixed_length")
    size = lengths.pop() if lengths else 0
    if size % dtype.itemsize:
        raise ValueError(f"tf.io.decode_raw: {size} bytes are not a whole number of "
                         f"{dtype.name} ({dtype.itemsize} bytes each)")
    out = np.frombuffer(b"".join(raw), dtype=dtype).astype(dtype.newbyteorder("="))
    return eager(out.reshape(strings.shape + (size // dtype.itemsize,)))


class GFile:
    """TensorFlow's ``tf.io.gfile.GFile``: a local file opened with
    ``open`` (mode 'r', 'w', 'a', 'rb', 'wb', ...), usable in ``with``."""

    def __init__(self, name, mode="r"):
        self._file = open(_path(name, "gfile.GFile"), mode)

    def __getattr__(self, name):
        return getattr(self._file, name)

    def __iter__(self):
        return iter(self._file)

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        self._file.close()

    def size(self):
        return os.fstat(self._file.fileno()).st_size


def _exists(path):
    return os.path.exists(_path(path, "gfile.exists"))


def _glob_files(pattern):
    return sorted(_glob.glob(_path(pattern, "gfile.glob")))


def _listdir(path):
    return sorted(os.listdir(_path(path, "gfile.listdir")))


def _makedirs(path):
    os.makedirs(_path(path, "gfile.makedirs"), exist_ok=True)


def _mkdir(path):
    os.mkdir(_path(path, "gfile.mkdir"))


def _remove(path):
    os.remove(_path(path, "gfile.remove"))


def _rmtree(path):
    shutil.rmtree(_path(path, "gfile.rmtree"))


def _copy(src, dst, overwrite=False):
    dst = _path(dst, "gfile.copy")
    if os.path.exists(dst) and not overwrite:
        raise FileExistsError(f"tf.io.gfile.copy: {dst} exists (overwrite=False)")
    shutil.copyfile(_path(src, "gfile.copy"), dst)


def _rename(src, dst, overwrite=False):
    dst = _path(dst, "gfile.rename")
    if os.path.exists(dst) and not overwrite:
        raise FileExistsError(f"tf.io.gfile.rename: {dst} exists (overwrite=False)")
    os.replace(_path(src, "gfile.rename"), dst)


def _walk(top, topdown=True, onerror=None):
    for root, dirs, files in os.walk(_path(top, "gfile.walk"), topdown=topdown, onerror=onerror):
        yield root, dirs, files


def _isdir(path):
    return os.path.isdir(_path(path, "gfile.isdir"))


gfile = types.SimpleNamespace(GFile=GFile, exists=_exists, glob=_glob_files, listdir=_listdir,
                              makedirs=_makedirs, mkdir=_mkdir, remove=_remove, rmtree=_rmtree,
                              copy=_copy, rename=_rename, walk=_walk, isdir=_isdir)

__all__ = ["read_file", "write_file", "decode_csv", "decode_raw", "gfile", "decode_image", "decode_png", "decode_jpeg",
           "decode_bmp", "decode_gif", "encode_png", "encode_jpeg", "TFRecordWriter",
           "TFRecordOptions", "FixedLenFeature", "VarLenFeature", "RaggedFeature", "parse_example",
           "parse_single_example", "serialize_tensor", "parse_tensor",
           "FixedLenSequenceFeature", "parse_single_sequence_example", "serialize_sparse"]

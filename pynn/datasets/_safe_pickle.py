"""Reading the pickles inside Keras's data files without running their code.

IMDB and Reuters store ragged sequences as NumPy object arrays, which
``np.save`` can only write as a pickle; CIFAR's batches are pickled dicts
(written by Python 2).  ``pickle.load`` on a downloaded file would run any
callable the file names, so these are read through :class:`RestrictedUnpickler`,
which resolves only the names NumPy needs to rebuild an array and refuses
every other one before anything is called.  Lists, dicts, ints and strings
need no names at all: pickle builds them from its own opcodes.
"""
import io
import pickle
import zipfile

import numpy as np

# The function NumPy's arrays reduce to (numpy.core.multiarray._reconstruct
# before NumPy 2, numpy._core.multiarray._reconstruct since), taken from an
# array so that no module is imported by a name read from a file.
_RECONSTRUCT = np.empty(0).__reduce__()[0]

_ALLOWED = {
    ("numpy", "ndarray"): np.ndarray,
    ("numpy", "dtype"): np.dtype,
    ("numpy.core.multiarray", "_reconstruct"): _RECONSTRUCT,
    ("numpy._core.multiarray", "_reconstruct"): _RECONSTRUCT,
}


class RestrictedUnpickler(pickle.Unpickler):
    """An unpickler that rebuilds NumPy arrays, lists, dicts, numbers and
    strings, and raises ``pickle.UnpicklingError`` on any other global
    (``os.system``, ``builtins.eval``, ...) without calling it."""

    def find_class(self, module, name):
        try:
            return _ALLOWED[(module, name)]
        except KeyError:
            raise pickle.UnpicklingError(
                f"refusing to load {module}.{name} from a data file: only NumPy arrays, "
                f"lists, dicts, numbers and strings may be stored in it. The file is "
                f"corrupt or was tampered with; delete it and download it again.") from None

    def persistent_load(self, pid):
        raise pickle.UnpicklingError("refusing a persistent id in a data file")


def unpickle(data, encoding="ASCII"):
    """The object pickled in the bytes ``data``, through RestrictedUnpickler.
    ``encoding='bytes'`` reads Python 2's strings as bytes, as CIFAR needs."""
    return RestrictedUnpickler(io.BytesIO(data), encoding=encoding).load()


def _read_npy(fp, name):
    version = np.lib.format.read_magic(fp)
    if version == (1, 0):
        shape, fortran, dtype = np.lib.format.read_array_header_1_0(fp)
    elif version in ((2, 0), (3, 0)):
        # 3.0 differs from 2.0 only in the header's text encoding (UTF-8
        # rather than latin-1), which is plain ASCII for any array here.
        shape, fortran, dtype = np.lib.format.read_array_header_2_0(fp)
    else:
        raise ValueError(f"{name}: unsupported .npy format version {version}")
    if not dtype.hasobject:
        return None
    array = RestrictedUnpickler(fp).load()
    if not isinstance(array, np.ndarray) or array.shape != shape or array.dtype != dtype:
        raise ValueError(f"{name}: the pickled array does not match its header "
                         f"(shape {shape}, dtype {dtype})")
    return array


def load_npz(path):
    """The arrays of the ``.npz`` file at ``path`` as a dict, like
    ``np.load(path, allow_pickle=True)`` but unpickling only arrays: plain
    arrays are read with pickling disabled, object arrays through
    RestrictedUnpickler."""
    arrays = {}
    try:
        with zipfile.ZipFile(path) as archive:
            for member in archive.namelist():
                if not member.endswith(".npy"):
                    continue
                with archive.open(member) as fp:
                    array = _read_npy(fp, f"{path}:{member}")
                if array is None:
                    with archive.open(member) as fp:
                        array = np.lib.format.read_array(fp, allow_pickle=False)
                arrays[member[:-len(".npy")]] = array
    except (zipfile.BadZipFile, EOFError) as e:
        raise ValueError(f"{path} is not a readable .npz file: {e}") from None
    return arrays

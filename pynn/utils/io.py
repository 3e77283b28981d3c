"""Crash-safe file writing: every file pynn writes goes through
:func:`atomic_write`.

The content is written to a temporary file in the destination's folder,
flushed and fsync'ed, then renamed over the destination with ``os.replace``
(atomic on POSIX and Windows), and the folder itself is fsync'ed so the
rename survives a power loss.  A crash at any moment leaves either the old
file or the new one at ``path``, never a mix; on an exception the temporary
file is removed and the old file is left as it was.
"""
import contextlib
import os
import tempfile

# The process's umask, read once: mkstemp creates files 0600, and a saved
# model should get the permissions an ordinary open() would give it.
_UMASK = os.umask(0o022)
os.umask(_UMASK)


def _fsync_dir(folder):
    try:
        fd = os.open(folder, os.O_RDONLY)
    except OSError:  # not supported on this platform (e.g. Windows)
        return
    try:
        os.fsync(fd)
    except OSError:
        pass
    finally:
        os.close(fd)


@contextlib.contextmanager
def atomic_write(path, mode="wb", encoding=None, newline=None):
    """Open a temporary file for writing that replaces ``path`` when the
    ``with`` block ends without an exception.

    ``mode`` is ``'w'``/``'wb'`` (start empty) or ``'a'``/``'ab'`` (start
    with a copy of the current content of ``path``, if any, and append).
    """
    if mode not in ("w", "wb", "a", "ab"):
        raise ValueError(f"atomic_write: mode must be 'w', 'wb', 'a' or 'ab', got {mode!r}")
    path = os.fspath(path)
    folder = os.path.dirname(os.path.abspath(path))
    if not os.path.isdir(folder):
        raise FileNotFoundError(f"Cannot write {path!r}: the folder {folder!r} does not exist")
    if os.path.isdir(path):
        raise IsADirectoryError(f"Cannot write {path!r}: it is a folder")
    binary = "b" in mode
    fd, tmp = tempfile.mkstemp(dir=folder, prefix="." + os.path.basename(path) + ".",
                               suffix=".tmp")
    try:
        try:
            os.chmod(tmp, os.stat(path).st_mode & 0o7777)
        except OSError:
            os.chmod(tmp, 0o666 & ~_UMASK)
        if mode.startswith("a") and os.path.exists(path):
            with open(path, "rb") as src:
                while True:
                    chunk = src.read(1 << 20)
                    if not chunk:
                        break
                    os.write(fd, chunk)
        f = os.fdopen(fd, "wb" if binary else "w",
                      **({} if binary else {"encoding": encoding or "utf-8",
                                            "newline": newline}))
        fd = None
        with f:
            if not binary:
                f.seek(0, os.SEEK_END)
            yield f
            f.flush()
            os.fsync(f.fileno())
        os.replace(tmp, path)
        tmp = None
        _fsync_dir(folder)
    finally:
        if fd is not None:
            os.close(fd)
        if tmp is not None:
            try:
                os.unlink(tmp)
            except OSError:
                pass

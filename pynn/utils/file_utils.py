"""keras.utils.get_file: a file from a URL, kept in Keras's cache
(``$KERAS_HOME/<cache_subdir>``, default ``~/.keras/datasets``), so files a
Keras program already downloaded are found where Keras put them.

A cached file is used when its digest matches ``file_hash`` (any copy when
no hash is given); otherwise it is downloaded to a temporary file in the
same folder, checked, and renamed into place.  Archives are extracted into
a temporary folder beside the target and renamed into place; an entry that
would land outside it (an absolute path, ``..``, a link leading out, a
device file) is refused.  With no network (or ``PYNN_OFFLINE=1``) the
error names the URL and the path where to place the file.
"""
import os
import shutil
import tarfile
import tempfile
import urllib.parse
import zipfile

from ..datasets._files import obtain


def _keras_home():
    return os.environ.get("KERAS_HOME") or os.path.join(os.path.expanduser("~"), ".keras")


def get_file(fname=None, origin=None, untar=False, md5_hash=None, file_hash=None,
             cache_subdir="datasets", hash_algorithm="auto", extract=False,
             archive_format="auto", cache_dir=None, force_download=False):
    """The path of ``fname`` in the cache, downloaded from ``origin`` when
    missing or when its digest differs from ``file_hash`` (SHA-256 or MD5,
    told apart by length as Keras does).  With ``extract`` (or ``untar``),
    the tar or zip archive is extracted and the folder's path returned,
    laid out as Keras 3 lays it out."""
    if origin is None:
        raise ValueError("get_file: give origin=, the URL of the file to download")
    if md5_hash is not None and file_hash is None:
        file_hash = md5_hash
    if file_hash is not None:
        file_hash = str(file_hash).lower()
        want = {"sha256": 64, "md5": 32}.get(hash_algorithm)
        if want is not None and len(file_hash) != want:
            raise ValueError(f"get_file: file_hash {file_hash!r} is not a {hash_algorithm} "
                             f"digest ({want} hex digits)")
    datadir = os.path.join(os.path.expanduser(cache_dir or _keras_home()), cache_subdir)
    given = os.fspath(fname) if fname is not None else None
    if not given:
        given = None
        fname = os.path.basename(urllib.parse.urlsplit(origin).path)
        if not fname:
            raise ValueError(f"get_file: cannot take a file name from origin {origin!r}; "
                             f"give fname=")
    else:
        fname = given
        if os.sep in fname or (os.altsep and os.altsep in fname) or fname in (".", ".."):
            raise ValueError(f"get_file: fname must be a file name, not a path (got "
                             f"{fname!r}); choose the folder with cache_dir=")
    archive = extract or untar
    if archive:
        if given and "." in fname:
            target = os.path.join(datadir, fname)
            extracted = os.path.join(datadir, f"{fname[:fname.find('.')]}_extracted")
        else:
            extracted = os.path.join(datadir, fname)
            target = os.path.join(datadir, f"{fname}_archive")
    else:
        target = os.path.join(datadir, fname)
    had = os.path.exists(target)
    path, why = obtain(target, origin, file_hash, timeout=60, force=force_download)
    if path is None:
        raise RuntimeError(f"get_file: {os.path.basename(target)} is not available: {why}. "
                           f"Download {origin} and put it at {target}")
    if not archive:
        return path
    fresh = force_download or not had or os.path.getmtime(path) > \
        (os.path.getmtime(extracted) if os.path.exists(extracted) else 0.0)
    if fresh or not os.path.isdir(extracted):
        _extract(path, extracted, "tar" if untar else archive_format)
    return extracted


def _extract(archive, folder, archive_format):
    """Extracts ``archive`` (tar, tar.gz/bz2/xz or zip) into ``folder``,
    replacing what was there, through a temporary folder beside it."""
    formats = ["tar", "zip"] if archive_format == "auto" else \
        [archive_format] if isinstance(archive_format, str) else list(archive_format or [])
    parent = os.path.dirname(folder)
    for kind in formats:
        if kind not in ("tar", "zip"):
            raise ValueError(f"get_file: archive_format must be 'auto', 'tar' or 'zip', got "
                             f"{kind!r}")
        if not (tarfile.is_tarfile if kind == "tar" else zipfile.is_zipfile)(archive):
            continue
        tmp = tempfile.mkdtemp(dir=parent, prefix="." + os.path.basename(folder))
        try:
            if kind == "tar":
                with tarfile.open(archive) as f:
                    _safe_tar(f, tmp, archive)
            else:
                with zipfile.ZipFile(archive) as f:
                    _safe_zip(f, tmp, archive)
            if os.path.isdir(folder):
                shutil.rmtree(folder)
            elif os.path.exists(folder):
                os.remove(folder)
            os.replace(tmp, folder)
        finally:
            if os.path.exists(tmp):
                shutil.rmtree(tmp)
        return
    raise ValueError(f"get_file: {archive} is not a {' or '.join(formats)} archive")


def _inside(root, name):
    full = os.path.realpath(os.path.join(root, name))
    return full == root or full.startswith(root + os.sep)


def _safe_tar(f, dest, archive):
    root = os.path.realpath(dest)
    members = f.getmembers()
    for m in members:
        bad = None
        if os.path.isabs(m.name) or not _inside(root, m.name):
            bad = "lands outside the folder"
        elif m.issym() or m.islnk():
            link = m.linkname if m.issym() and not os.path.isabs(m.linkname) else None
            target = os.path.join(os.path.dirname(m.name), link) if link is not None \
                else m.linkname
            if m.issym() and (link is None or not _inside(root, target)):
                bad = f"is a link leading out ({m.linkname!r})"
            if m.islnk() and (os.path.isabs(m.linkname) or not _inside(root, m.linkname)):
                bad = f"is a hard link leading out ({m.linkname!r})"
        elif not (m.isfile() or m.isdir()):
            bad = "is a device or special file"
        if bad:
            raise ValueError(f"get_file: {archive}: the entry {m.name!r} {bad}; not extracted")
    if hasattr(tarfile, "data_filter"):
        f.extractall(dest, members=members, filter="data")
    else:
        f.extractall(dest, members=members)


def _safe_zip(f, dest, archive):
    root = os.path.realpath(dest)
    for name in f.namelist():
        if os.path.isabs(name) or name.startswith(("/", "\\")) or not _inside(root, name):
            raise ValueError(f"get_file: {archive}: the entry {name!r} lands outside the "
                             f"folder; not extracted")
    f.extractall(dest)

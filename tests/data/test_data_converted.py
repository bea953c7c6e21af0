"""A converted cache is trusted only with a matching checksum record; anything else is rebuilt or refused."""

import json

import numpy as np
import pytest

from kdistill.data.converted import Conversion, inspect_cache, load_converted, repair_converted
from kdistill.data.manifest import manifest_path, read_record
from kdistill.data.npz import image_schema, save_npz_atomic
from kdistill.data.sources import sha256_file
from kdistill.errors import DataError

SCHEMA = image_schema(2, 2)


def tiny_arrays():
    rng = np.random.default_rng(0)
    labels = np.arange(6, dtype=np.int64) % 3
    return {"x_train": rng.integers(0, 256, (6, 2, 2), dtype=np.uint8), "y_train": labels,
            "x_test": rng.integers(0, 256, (3, 2, 2), dtype=np.uint8), "y_test": labels[:3].copy()}


class CountingConverter:
    """Stands in for a real source: returns the same arrays every time and counts how often it was asked."""

    def __init__(self):
        self.arrays, self.calls = tiny_arrays(), 0

    def __call__(self, download, repair):
        self.calls += 1
        return {key: value.copy() for key, value in self.arrays.items()}, {"kind": "test", "download": download}


@pytest.fixture
def converter():
    return CountingConverter()


@pytest.fixture
def tiny(converter):
    return Conversion("tiny", SCHEMA, converter)


def assert_same(arrays, expected):
    assert set(arrays) == set(expected) and all(np.array_equal(arrays[key], expected[key]) for key in expected)


def test_first_load_converts_and_records_the_checksum(tiny, converter):
    assert inspect_cache(tiny)[0].status == "missing"
    assert_same(load_converted(tiny, download=False), converter.arrays)
    record = read_record(tiny.cache_path)
    assert record["sha256"] == sha256_file(tiny.cache_path) and record["size"] == tiny.cache_path.stat().st_size
    assert record["dataset"] == "tiny" and record["converter_version"] == 1 and record["source"]["kind"] == "test"
    assert inspect_cache(tiny)[0].status == "cached"
    load_converted(tiny, download=False)
    assert converter.calls == 1  # a verified cache is not converted again


def truncate(path):
    path.write_bytes(path.read_bytes()[: path.stat().st_size // 2])


def flip_one_bit(path):
    data = bytearray(path.read_bytes())
    data[len(data) // 2] ^= 0x01  # lands inside the array bytes, so the .npz itself still parses
    path.write_bytes(bytes(data))


def shift_labels(path):
    with np.load(path) as archive:
        arrays = dict(archive)
    arrays["y_train"] = (arrays["y_train"] + 1) % 3  # still in range, still a valid .npz
    save_npz_atomic(path, **arrays)


def break_record(path):
    manifest_path(path).write_text('{"sha256": ')


@pytest.mark.parametrize("damage", [truncate, flip_one_bit, shift_labels, break_record])
def test_damaged_cache_is_refused_then_repaired(tiny, converter, damage):
    load_converted(tiny, download=False)
    damage(tiny.cache_path)
    assert inspect_cache(tiny)[0].status == "corrupt"
    with pytest.raises(DataError) as caught:
        load_converted(tiny, download=False)
    message = str(caught.value)
    assert "corrupt" in message and "kdistill data fetch tiny" in message and "\n" not in message
    assert str(tiny.cache_path.with_suffix("")) in message  # names the .npz or its .manifest.json
    assert repair_converted(tiny).status == "corrupt"
    assert inspect_cache(tiny)[0].status == "cached" and converter.calls == 2
    assert_same(load_converted(tiny, download=False), converter.arrays)


def test_cache_without_record_is_rebuilt_on_load(tiny, converter):
    """Caches written before checksum records existed (or cut off between the two writes) are rebuilt, not trusted."""
    stale = {key: np.zeros_like(value) for key, value in converter.arrays.items()}
    save_npz_atomic(tiny.cache_path, **stale)
    assert inspect_cache(tiny)[0].status == "unverified"
    assert_same(load_converted(tiny, download=False), converter.arrays)
    assert converter.calls == 1 and inspect_cache(tiny)[0].status == "cached"


def test_cache_from_an_older_converter_is_rebuilt(tiny, converter):
    load_converted(tiny, download=False)
    newer = Conversion("tiny", SCHEMA, converter, version=2)
    assert inspect_cache(newer)[0].status == "unverified"
    load_converted(newer, download=False)
    assert converter.calls == 2 and read_record(newer.cache_path)["converter_version"] == 2


def test_record_with_wrong_schema_cache_is_rebuilt_by_repair(tiny, converter):
    """A cache that matches its record but not the schema (a converter bug) fails on load; fetch rebuilds it."""
    def buggy(download, repair):
        return {"x_train": np.zeros((1, 3), np.uint8)}, {}

    load_converted(Conversion("tiny", {}, buggy), download=False)  # an empty schema accepts what it wrote
    with pytest.raises(DataError, match=r"'x_train' is uint8\(1, 3\).*kdistill data fetch tiny"):
        load_converted(tiny, download=False)
    repair_converted(tiny)
    assert_same(load_converted(tiny, download=False), converter.arrays)


def test_missing_source_message_survives_an_unverified_cache(tiny):
    def no_source(download, repair):
        raise DataError("tiny is not cached; run `kdistill data fetch tiny`")

    save_npz_atomic(tiny.cache_path, **tiny_arrays())
    with pytest.raises(DataError, match=r"no checksum record.*kdistill data fetch tiny"):
        load_converted(Conversion("tiny", SCHEMA, no_source), download=False)


def test_full_disk_is_one_line(tiny, monkeypatch):
    import kdistill.data.converted as converted

    def no_space(path, **arrays):
        raise OSError(28, "No space left on device")

    monkeypatch.setattr(converted, "save_npz_atomic", no_space)
    with pytest.raises(DataError, match=r"cannot write .*tiny.npz \(OSError: \[Errno 28\] No space left on device\)"):
        load_converted(tiny, download=False)


def test_npz_bytes_depend_only_on_the_arrays(tmp_path):
    """Two processes converting at once must write identical files, or one's record would not fit the other's file."""
    save_npz_atomic(tmp_path / "a.npz", **tiny_arrays())
    save_npz_atomic(tmp_path / "b.npz", **tiny_arrays())
    assert (tmp_path / "a.npz").read_bytes() == (tmp_path / "b.npz").read_bytes()


def test_record_is_json_beside_the_cache(tiny):
    load_converted(tiny, download=False)
    assert manifest_path(tiny.cache_path).name == "tiny.manifest.json"
    assert json.loads(manifest_path(tiny.cache_path).read_text())["file"] == "tiny.npz"

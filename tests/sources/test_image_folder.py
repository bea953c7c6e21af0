import numpy as np
import pytest
import torch
from PIL import Image
from source_files import folder_name, per_class, write_pngs

from kdistill.errors import ConfigError, DataError
from kdistill.sources import open_source, source_loader


@pytest.fixture(scope="module")
def flat_folder(tmp_path_factory, fashion):
    """50 real Fashion-MNIST training images per class as PNGs in root/<class>/<id>.png (id = train position)."""
    x_train, y_train, _, _, names = fashion
    ids = per_class(y_train, 50)
    root = tmp_path_factory.mktemp("fashion-flat")
    write_pngs(root, x_train[ids], y_train[ids], names, ids)
    return root


@pytest.fixture(scope="module")
def split_folder(tmp_path_factory, fashion):
    """root/train/<class> (20 per class), root/validation/<class> (5), root/test/<class> (10, from the test set)."""
    x_train, y_train, x_test, y_test, names = fashion
    root = tmp_path_factory.mktemp("fashion-split")
    train_ids, test_ids = per_class(y_train, 25), per_class(y_test, 10)
    first, rest = train_ids.reshape(10, 25)[:, :20].ravel(), train_ids.reshape(10, 25)[:, 20:].ravel()
    write_pngs(root / "train", x_train[first], y_train[first], names, first)
    write_pngs(root / "validation", x_train[rest], y_train[rest], names, rest)
    write_pngs(root / "test", x_test[test_ids], y_test[test_ids], names, test_ids)
    return root


def image_id(dataset, index):
    return int(dataset.path(index).rsplit("/", 1)[1].removesuffix(".png"))


def test_flat_folder_decodes_real_images_exactly(flat_folder, fashion):
    x_train, y_train, _, _, names = fashion
    source = open_source("image-folder", {"root": str(flat_folder)})
    info = source.info
    assert info.class_names == tuple(sorted(folder_name(n) for n in names))
    assert info.input_shape == (1, 28, 28) and info.splits == ("train", "test")
    train, test = source.open("train"), source.open("test")
    assert (len(train), len(test)) == (400, 100)
    assert torch.equal(torch.bincount(test.labels), torch.full((10,), 10))  # stratified: 10 per class in test
    for dataset in (train, test):
        for index in (0, 7, len(dataset) - 1):
            sample = dataset[index]
            original = image_id(dataset, index)
            assert sample["index"] == index and sample["labels"].dtype == torch.int64
            assert info.class_names[int(sample["labels"])] == folder_name(names[y_train[original]])
            assert torch.equal(sample["inputs"], torch.from_numpy(x_train[original]).float().div(255).unsqueeze(0))


def test_flat_split_is_seeded_disjoint_and_covering(flat_folder):
    def split(seed):
        source = open_source("image-folder", {"root": str(flat_folder), "split_seed": seed, "val_fraction": 0.1})
        return {name: {bytes(p) for p in source.open(name).paths} for name in source.info.splits}

    first, again, other = split(0), split(0), split(1)
    assert first == again and first != other
    assert set(first) == {"train", "val", "test"}
    assert sum(map(len, first.values())) == len(set.union(*first.values())) == 500


def test_split_folders_are_used_as_they_are(split_folder, fashion):
    _, _, x_test, _, _ = fashion
    source = open_source("image-folder", {"root": str(split_folder)})
    assert source.info.splits == ("train", "val", "test")
    assert [len(source.open(split)) for split in source.info.splits] == [200, 50, 100]
    test = source.open("test")
    assert torch.equal(test[3]["inputs"][0], torch.from_numpy(x_test[image_id(test, 3)]).float() / 255)
    with pytest.raises(ConfigError, match="split 'holdout' is not available.*available: train, val, test"):
        source.open("holdout")


def test_color_resize_and_normalisation(flat_folder):
    root = str(flat_folder)
    gray = open_source("image-folder", {"root": root}).open("train")[0]["inputs"]
    rgb = open_source("image-folder", {"root": root, "color": "rgb"}).open("train")[0]["inputs"]
    assert rgb.shape == (3, 28, 28) and torch.equal(rgb, gray.expand(3, -1, -1))
    small = open_source("image-folder", {"root": root, "resize": [14, 16]})
    assert small.info.input_shape == (1, 14, 16) and small.open("train")[0]["inputs"].shape == (1, 14, 16)
    normalised = open_source("image-folder", {"root": root, "mean": [0.5], "std": [0.25]}).open("train")[0]["inputs"]
    assert torch.allclose(normalised, (gray - 0.5) / 0.25)
    with pytest.raises(ConfigError, match="mean needs 1 or 3 values"):
        _ = open_source("image-folder", {"root": root, "color": "rgb", "mean": [0.1, 0.2], "std": [1.0, 1.0]}).info


def test_jpeg_files_are_read(tmp_path, fashion):
    x_train, _, _, _, _ = fashion
    for name in ("a", "b"):
        (tmp_path / name).mkdir()
        Image.fromarray(x_train[0]).save(tmp_path / name / "0.jpg", quality=95)
        Image.fromarray(x_train[1]).save(tmp_path / name / "1.JPEG", quality=95)
    dataset = open_source("image-folder", {"root": str(tmp_path), "test_fraction": 0.0}).open("train")
    assert len(dataset) == 4
    assert (dataset[0]["inputs"] - torch.from_numpy(x_train[0]) / 255).abs().mean() < 0.02  # lossy, but close


def test_worker_decoding_matches_main_process(flat_folder):
    dataset = open_source("image-folder", {"root": str(flat_folder)}).open("test")
    main = list(source_loader(dataset, 32, seed=3, num_workers=0))
    workers = list(source_loader(dataset, 32, seed=3, num_workers=2))
    assert len(main) == len(workers) == 4
    for a, b in zip(main, workers):
        assert torch.equal(a["index"], b["index"]) and torch.equal(a["inputs"], b["inputs"])


def test_dataset_stores_paths_as_one_bytes_array(flat_folder):
    dataset = open_source("image-folder", {"root": str(flat_folder)}).open("train")
    assert isinstance(dataset.paths, np.ndarray) and dataset.paths.dtype.kind == "S"


# --- one-line errors ---------------------------------------------------------------------------------------------

def tiny_folder(root, sizes=((8, 8), (8, 8))):
    for number, (height, width) in enumerate(sizes):
        folder = root / f"class{number % 2}"
        folder.mkdir(parents=True, exist_ok=True)
        Image.fromarray(np.full((height, width), 40 * number, np.uint8)).save(folder / f"{number}.png")
    return root


def one_line_error(error_type, match, action):
    with pytest.raises(error_type, match=match) as caught:
        action()
    assert "\n" not in str(caught.value)
    return str(caught.value)


def test_empty_class_folder(tmp_path):
    tiny_folder(tmp_path)
    (tmp_path / "empty").mkdir()
    (tmp_path / "empty" / "notes.txt").write_text("not an image")
    one_line_error(DataError, "class folder .*empty has no PNG/JPEG images", lambda: open_source(
        "image-folder", {"root": str(tmp_path), "test_fraction": 0.0}).info)


def test_no_class_folders(tmp_path):
    Image.fromarray(np.zeros((4, 4), np.uint8)).save(tmp_path / "loose.png")
    one_line_error(DataError, "no class folders in", lambda: open_source(
        "image-folder", {"root": str(tmp_path), "test_fraction": 0.0}).info)


def test_missing_root(tmp_path):
    one_line_error(DataError, "does not exist", lambda: open_source(
        "image-folder", {"root": str(tmp_path / "nowhere")}).info)


def test_unreadable_image_is_named_at_open(tmp_path):
    tiny_folder(tmp_path)
    (tmp_path / "class1" / "broken.png").write_bytes(b"this is not a png")
    one_line_error(DataError, r"cannot read image .*class1/broken.png.*fix or delete", lambda: open_source(
        "image-folder", {"root": str(tmp_path), "test_fraction": 0.0}).info)


def test_truncated_image_is_named_when_decoded_also_in_a_worker(tmp_path):
    tiny_folder(tmp_path, sizes=[(8, 8)] * 4)
    noise = np.random.default_rng(0).integers(0, 256, (64, 64), dtype=np.uint8)
    Image.fromarray(noise).save(tmp_path / "class0" / "9.png")
    whole = (tmp_path / "class0" / "9.png").read_bytes()
    (tmp_path / "class0" / "9.png").write_bytes(whole[:300])  # header intact, pixels cut
    source = open_source("image-folder", {"root": str(tmp_path), "resize": [8, 8], "test_fraction": 0.0})
    dataset = source.open("train")
    broken = [i for i in range(len(dataset)) if dataset.path(i).endswith("9.png")]
    one_line_error(DataError, r"cannot read image .*class0/9.png", lambda: dataset[broken[0]])
    one_line_error(DataError, r"^cannot read image .*class0/9.png", lambda: list(source_loader(
        dataset, 2, shuffle=False, num_workers=1)))


def test_mixed_sizes_need_resize(tmp_path):
    tiny_folder(tmp_path, sizes=[(8, 8), (8, 8), (9, 8), (8, 8)])
    message = one_line_error(DataError, "mixed sizes", lambda: open_source(
        "image-folder", {"root": str(tmp_path), "test_fraction": 0.0}).info)
    assert "2.png is 9x8" in message and "resize" in message
    resized = open_source("image-folder", {"root": str(tmp_path), "resize": [8, 8], "test_fraction": 0.0})
    assert {tuple(resized.open("train")[i]["inputs"].shape) for i in range(4)} == {(1, 8, 8)}


def test_test_folder_with_unknown_class(tmp_path):
    tiny_folder(tmp_path / "train")
    tiny_folder(tmp_path / "test", sizes=[(8, 8)] * 3)
    (tmp_path / "test" / "class9").mkdir()
    Image.fromarray(np.zeros((8, 8), np.uint8)).save(tmp_path / "test" / "class9" / "x.png")
    one_line_error(DataError, "has class folder 'class9' that .*train lacks", lambda: open_source(
        "image-folder", {"root": str(tmp_path), "test_fraction": 0.0}).info)


def test_bad_options():
    one_line_error(ConfigError, "resize must be", lambda: open_source("image-folder", {"root": "x", "resize": [8]}))
    one_line_error(ConfigError, "color must be one of", lambda: open_source(
        "image-folder", {"root": "x", "color": "cmyk"}))
    one_line_error(ConfigError, "both mean and std", lambda: open_source("image-folder", {"root": "x", "mean": [0.5]}))
    one_line_error(ConfigError, "sum below 1", lambda: open_source(
        "image-folder", {"root": "x", "val_fraction": 0.5, "test_fraction": 0.5}))

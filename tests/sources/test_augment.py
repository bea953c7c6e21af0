import hashlib
import os
import subprocess
import sys
from pathlib import Path

import pytest
import torch
import torch.nn.functional as F

from kdistill.data.jitter import shift_images
from kdistill.errors import ConfigError
from kdistill.sources import (
    AugmentedDataset,
    AugmentOptions,
    AugmentParams,
    apply_augment,
    augment_params,
    mix_params,
    open_source,
    source_loader,
)
from kdistill.sources.mix import apply_mix

FULL = AugmentOptions(crop_padding=4, flip=True, jitter=2)
HERE = Path(__file__).resolve().parent
SRC = HERE.parents[1] / "src"

def augment_digest() -> str:
    """sha256 over the augmented tensors of 3 views x 40 indices of one fixed image."""
    image = torch.arange(3 * 12 * 10, dtype=torch.float32).view(3, 12, 10)
    digest = hashlib.sha256()
    for view in range(3):
        for index in range(40):
            digest.update(apply_augment(image, augment_params(FULL, 7, view, index), FULL).numpy().tobytes())
    return digest.hexdigest()


@pytest.mark.slow  # a fresh interpreter imports torch: ~3 s
def test_same_seed_view_index_give_identical_tensors_in_another_process():
    env = {**os.environ, "PYTHONPATH": os.pathsep.join([str(SRC), str(HERE)]), "PYTHONHASHSEED": "123"}
    script = "from test_augment import augment_digest; print(augment_digest())"
    other = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True, env=env, check=True)
    assert other.stdout.strip() == augment_digest()


def test_params_are_a_pure_function_and_differ_between_views_indices_and_seeds():
    assert augment_params(FULL, 0, 1, 5) == augment_params(FULL, 0, 1, 5)
    base = [augment_params(FULL, 0, 0, index) for index in range(64)]
    for other in ([augment_params(FULL, 0, 1, index) for index in range(64)],  # another view
                  [augment_params(FULL, 1, 0, index) for index in range(64)]):  # another seed
        assert sum(a == b for a, b in zip(base, other)) < 8  # 81 * 2 * 25 outcomes: equal only by chance
    assert len(set(base)) > 40  # indices differ from each other
    assert {p.flip for p in base} == {True, False}
    assert {p.crop[0] for p in base} == set(range(9)) and {p.jitter[1] for p in base} == set(range(-2, 3))


def test_disabled_operations_stay_off():
    params = [augment_params(AugmentOptions(jitter=1), 0, 0, index) for index in range(50)]
    assert all(p.crop == (0, 0) and not p.flip for p in params)


def test_zero_fill_crop_is_a_shift_and_flip_mirrors():
    image = torch.rand(2, 9, 11)
    options = AugmentOptions(crop_padding=3, flip=True)
    cropped = apply_augment(image, AugmentParams((1, 5), False, (0, 0)), options)
    assert torch.equal(cropped, shift_images(image[None], torch.tensor([[3 - 1, 3 - 5]]))[0])
    flipped = apply_augment(image, AugmentParams((3, 3), True, (0, 0)), options)
    assert torch.equal(flipped, image.flip(-1))


def test_reflect_crop_and_jitter():
    image = torch.rand(1, 8, 8)
    options = AugmentOptions(crop_padding=2, crop_fill="reflect", jitter=1)
    out = apply_augment(image, AugmentParams((0, 4), False, (1, -1)), options)
    reflected = F.pad(image[None], (2, 2, 2, 2), mode="reflect")[0, :, 0:8, 4:12]
    assert torch.equal(out, shift_images(reflected[None], torch.tensor([[1, -1]]))[0])


def test_augmented_dataset_records_params_and_checks_inputs(digits):
    source = open_source("digits")
    dataset = AugmentedDataset(source.open("train"), FULL, seed=5)
    sample = dataset[(10, 2)]
    params = augment_params(FULL, 5, 2, 10)
    assert sample["view"] == 2 and sample["index"] == 10
    assert sample["crop"].tolist() == list(params.crop) and bool(sample["flip"]) == params.flip
    assert sample["jitter"].tolist() == list(params.jitter)
    assert torch.equal(sample["inputs"], apply_augment(source.open("train")[10]["inputs"], params, FULL))
    assert dataset[10]["view"] == 0
    with pytest.raises(ConfigError, match="need image inputs"):
        AugmentedDataset(open_source_vectors(), FULL, seed=0)
    with pytest.raises(ConfigError, match="reflect padding needs crop_padding < image size"):
        AugmentedDataset(source.open("train"), AugmentOptions(crop_padding=8, crop_fill="reflect"), seed=0)


def open_source_vectors():
    from kdistill.sources.arrays import ArrayConverter, ArrayDataset

    return ArrayDataset(torch.zeros(4, 3), torch.zeros(4, dtype=torch.long), ArrayConverter("raw"))


def test_bad_options():
    for options, match in (({"crop_padding": -1}, "must be >= 0"), ({"mix": "blend"}, "mix must be one of"),
                           ({"mix_alpha": 0.0}, "mix_alpha must be > 0"), ({"crop_fill": "edge"}, "crop_fill")):
        with pytest.raises(ConfigError, match=match):
            AugmentOptions(**options)


# --- batch-level mixing ------------------------------------------------------------------------------------------

@pytest.mark.parametrize("mode", ["mixup", "cutmix"])
def test_mixed_batches_are_reproducible_from_seed_view_and_indices(digits, mode):
    dataset = open_source("digits").open("train")
    options = AugmentOptions(mix=mode, mix_alpha=0.4)
    loader = source_loader(dataset, 32, seed=1, augment=options, augment_seed=9, views=3)
    loader.set_epoch(2)
    batch = next(iter(loader))
    plain = torch.stack([dataset[i]["inputs"] for i in batch["index"].tolist()])  # (B, 1, 8, 8) unmixed
    params = mix_params(options, 9, 1, batch["index"], (8, 8))  # epoch 2 -> view 1
    assert torch.equal(batch["inputs"], apply_mix(plain, params))
    assert torch.equal(batch["mix_index"], params.partner)
    assert torch.equal(batch["mix_partner"], batch["index"][params.partner])
    assert torch.equal(batch["mix_labels"], batch["labels"][params.partner])
    assert torch.equal(batch["labels"], dataset.labels[batch["index"]])  # labels stay unmixed
    assert torch.allclose(batch["mix_lambda"], torch.full((32,), params.lam))
    if mode == "mixup":
        assert 0 < params.lam < 1 and "mix_box" not in batch
        partner = plain[params.partner]
        assert torch.allclose(batch["inputs"], params.lam * plain + (1 - params.lam) * partner)
    else:
        top, left, bottom, right = batch["mix_box"][0].tolist()
        assert params.lam == pytest.approx(1 - (bottom - top) * (right - left) / 64)
        inside = batch["inputs"][:, :, top:bottom, left:right]
        assert torch.equal(inside, plain[params.partner][:, :, top:bottom, left:right])
    other = mix_params(options, 9, 1, batch["index"].flip(0), (8, 8))
    assert other.lam != params.lam  # another batch composition mixes differently


def test_mix_params_differ_between_views():
    index = torch.arange(16)
    options = AugmentOptions(mix="mixup")
    assert mix_params(options, 0, 0, index).lam != mix_params(options, 0, 1, index).lam
    assert mix_params(options, 0, 0, index).lam == mix_params(options, 0, 0, index.clone()).lam


def test_cutmix_needs_images():
    with pytest.raises(ConfigError, match="cutmix needs image inputs"):
        mix_params(AugmentOptions(mix="cutmix"), 0, 0, torch.arange(4), None)



def test_single_image_shift_matches_the_batched_jitter():
    from kdistill.sources.augment import shift_image

    image = torch.rand(3, 6, 7)
    for dy in range(-7, 8):
        for dx in (-8, -2, 0, 1, 5):
            assert torch.equal(shift_image(image, dy, dx), shift_images(image[None], torch.tensor([[dy, dx]]))[0])

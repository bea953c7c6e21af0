"""Per-sample augmentation whose parameters are a pure function of (seed, view, sample index).

A teacher cache stores V views of every sample; training epoch ``e`` shows view ``(e - 1) mod V``. Because the crop,
flip and jitter of sample ``i`` in view ``v`` are drawn from a generator seeded by sha256(seed, v, i) alone, any
process (a DataLoader worker, the cache builder, a resumed run) reproduces them exactly, independent of batch size,
order, worker count or rank. The parameters travel with the sample ("crop", "flip", "jitter") so a consumer can check
or replay them with :func:`augment_params` and :func:`apply_augment`.

Order of operations: random crop (pad by ``crop_padding``, cut an H x W window), horizontal flip, jitter (translate by
up to ``jitter`` pixels with zero fill, as Hinton et al. 2015 do for MNIST). Batch-level mixup/cutmix: see ``mix``.
"""

from __future__ import annotations

import hashlib
from dataclasses import dataclass
from typing import Any

import torch
import torch.nn.functional as F
from torch.utils.data import Dataset

from kdistill.errors import ConfigError
from kdistill.sources.base import Sample, SourceDataset, sample_position

CROP_FILLS = ("zero", "reflect")
MIX_MODES = ("none", "mixup", "cutmix")


@dataclass(kw_only=True)
class AugmentOptions:
    """``crop_padding``: pad by this many pixels (``crop_fill``: zero or reflect) and cut a window of the original
    size; ``flip``: mirror left-right with probability 1/2; ``jitter``: shift by up to this many pixels (zero fill);
    ``mix``: none, mixup or cutmix across the batch with Beta(``mix_alpha``, ``mix_alpha``) weights."""

    crop_padding: int = 0
    crop_fill: str = "zero"
    flip: bool = False
    jitter: int = 0
    mix: str = "none"
    mix_alpha: float = 1.0

    def __post_init__(self) -> None:
        if self.crop_padding < 0 or self.jitter < 0:
            raise ConfigError(f"crop_padding and jitter must be >= 0; got {self.crop_padding} and {self.jitter}")
        if self.crop_fill not in CROP_FILLS:
            raise ConfigError(f"crop_fill must be one of {', '.join(CROP_FILLS)}; got '{self.crop_fill}'")
        if self.mix not in MIX_MODES:
            raise ConfigError(f"mix must be one of {', '.join(MIX_MODES)}; got '{self.mix}'")
        if self.mix_alpha <= 0:
            raise ConfigError(f"mix_alpha must be > 0; got {self.mix_alpha}")

    @property
    def per_sample(self) -> bool:
        return self.crop_padding > 0 or self.flip or self.jitter > 0


@dataclass(frozen=True)
class AugmentParams:
    """One sample's augmentation: ``crop`` = (top, left) of the window in the padded image ((p, p) is centred),
    ``flip`` = mirrored or not, ``jitter`` = (dy, dx) shift (positive = down / right)."""

    crop: tuple[int, int]
    flip: bool
    jitter: tuple[int, int]


def augment_seed(seed: int, view: int, index: int) -> int:
    """A 63-bit seed for (seed, view, index); hashing keeps neighbouring triples unrelated."""
    digest = hashlib.sha256(f"kdistill-augment:{seed}:{view}:{index}".encode()).digest()
    return int.from_bytes(digest[:8], "little") >> 1


def augment_params(options: AugmentOptions, seed: int, view: int, index: int) -> AugmentParams:
    """The augmentation of sample ``index`` in view ``view``: a pure function of its arguments."""
    generator = torch.Generator().manual_seed(augment_seed(seed, view, index))
    padding, jitter = options.crop_padding, options.jitter
    crop = torch.randint(0, 2 * padding + 1, (2,), generator=generator).tolist()
    flip = bool(torch.randint(0, 2, (1,), generator=generator)) and options.flip
    shift = torch.randint(-jitter, jitter + 1, (2,), generator=generator).tolist()
    return AugmentParams((int(crop[0]), int(crop[1])), flip, (int(shift[0]), int(shift[1])))


def apply_augment(image: torch.Tensor, params: AugmentParams, options: AugmentOptions) -> torch.Tensor:
    """Image (C, H, W) -> augmented (C, H, W): crop, then flip, then jitter."""
    _, height, width = image.shape
    padding = options.crop_padding
    if padding > 0:
        mode = "constant" if options.crop_fill == "zero" else "reflect"
        padded = F.pad(image.unsqueeze(0), (padding,) * 4, mode=mode).squeeze(0)  # (C, H + 2p, W + 2p)
        top, left = params.crop
        image = padded[:, top : top + height, left : left + width]
    if params.flip:
        image = image.flip(-1)
    if params.jitter != (0, 0):
        image = shift_image(image, *params.jitter)
    return image.contiguous()


def shift_image(image: torch.Tensor, dy: int, dx: int) -> torch.Tensor:
    """``kdistill.data.shift_images`` for one image (C, H, W), as pad + slice: cheaper per image than its batched gather.

    ``out[:, y, x] = image[:, y - dy, x - dx]``, zero where that pixel is outside the image.
    """
    _, height, width = image.shape
    pad = max(abs(dy), abs(dx))
    padded = F.pad(image.unsqueeze(0), (pad,) * 4).squeeze(0)  # (C, H + 2 pad, W + 2 pad)
    return padded[:, pad - dy : pad - dy + height, pad - dx : pad - dx + width]


class AugmentedDataset(Dataset):
    """Serves ``dataset`` samples as views: ``ds[(index, view)]`` (or ``ds[index]`` for view 0).

    Adds ``"view"`` (int) to every sample and, when a per-sample augmentation is on, ``"crop"`` (2,) int64,
    ``"flip"`` bool and ``"jitter"`` (2,) int64 (the :class:`AugmentParams`), with the inputs augmented.
    """

    def __init__(self, dataset: SourceDataset, options: AugmentOptions | None, seed: int):
        self.dataset = dataset
        self.options = options
        self.seed = seed
        if options is not None and options.per_sample:
            shape = dataset.input_shape
            if not isinstance(shape, tuple) or len(shape) != 3:
                raise ConfigError(f"crop, flip and jitter need image inputs (C, H, W); this dataset's inputs are "
                                  f"{shape}; turn them off")
            if options.crop_fill == "reflect" and options.crop_padding >= min(shape[1:]):
                raise ConfigError(f"reflect padding needs crop_padding < image size {shape[1:]}; got "
                                  f"{options.crop_padding}")

    def __len__(self) -> int:
        return len(self.dataset)

    def __getitem__(self, key: Any) -> Sample:
        index, view = key if isinstance(key, tuple) else (key, 0)
        sample = self.dataset[sample_position(index, len(self.dataset))]
        sample["view"] = int(view)
        if self.options is not None and self.options.per_sample:
            params = augment_params(self.options, self.seed, int(view), sample["index"])
            sample["inputs"] = apply_augment(sample["inputs"], params, self.options)
            sample["crop"] = torch.tensor(params.crop, dtype=torch.long)
            sample["flip"] = torch.tensor(params.flip)
            sample["jitter"] = torch.tensor(params.jitter, dtype=torch.long)
        return sample

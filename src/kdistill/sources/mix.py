"""Batch-level mixup (Zhang et al. 2018) and cutmix (Yun et al. 2019) with reproducible parameters.

Each sample is mixed with a partner from the same batch. The partner permutation, the Beta(alpha, alpha) weight and
the cutmix box are drawn from a generator seeded by sha256(seed, view, the batch's sample ids in order), so the same
batch of the same view mixes identically in any process. The batch carries what was done:

- ``mix_index`` (B,) int64: position of each sample's partner in the batch;
- ``mix_partner`` (B,) int64: the partner's sample id (``index[mix_index]``), and ``mix_labels`` its label;
- ``mix_lambda`` (B,) float32: the share of the sample's own input (for cutmix, 1 - box area / image area);
- ``mix_box`` (B, 4) int64, cutmix only: (top, left, bottom, right) of the pasted box, bottom/right exclusive.

A loss for mixed batches is ``lam * loss(labels) + (1 - lam) * loss(mix_labels)``; ``labels`` stay unmixed.
"""

from __future__ import annotations

import hashlib
import math
from dataclasses import dataclass

import numpy as np
import torch

from kdistill.batch import Batch
from kdistill.errors import ConfigError
from kdistill.sources.augment import AugmentOptions


@dataclass(frozen=True)
class MixParams:
    partner: torch.Tensor  # (B,) int64 positions in the batch
    lam: float  # share of each sample's own input
    box: tuple[int, int, int, int] | None  # cutmix (top, left, bottom, right); None for mixup


def mix_seed(seed: int, view: int, index: torch.Tensor) -> int:
    ids = ",".join(str(i) for i in index.tolist())
    digest = hashlib.sha256(f"kdistill-mix:{seed}:{view}:{ids}".encode()).digest()
    return int.from_bytes(digest[:8], "little") >> 1


def mix_params(options: AugmentOptions, seed: int, view: int, index: torch.Tensor,
               image_size: tuple[int, int] | None = None) -> MixParams:
    """The mix of the batch of sample ids ``index`` (B,) in view ``view``; ``image_size`` (H, W) for cutmix."""
    rng = np.random.Generator(np.random.PCG64(mix_seed(seed, view, index)))
    partner = torch.from_numpy(rng.permutation(len(index)).astype(np.int64))
    lam = float(rng.beta(options.mix_alpha, options.mix_alpha))
    if options.mix != "cutmix":
        return MixParams(partner, lam, None)
    if image_size is None:
        raise ConfigError("cutmix needs image inputs (B, C, H, W); use mix: mixup for other inputs")
    height, width = image_size
    cut = math.sqrt(1.0 - lam)  # the box covers a (1 - lam) share of the image
    cut_h, cut_w = int(height * cut), int(width * cut)
    centre_y, centre_x = int(rng.integers(height)), int(rng.integers(width))
    top, bottom = max(centre_y - cut_h // 2, 0), min(centre_y + cut_h // 2, height)
    left, right = max(centre_x - cut_w // 2, 0), min(centre_x + cut_w // 2, width)
    area = (bottom - top) * (right - left)
    return MixParams(partner, 1.0 - area / (height * width), (top, left, bottom, right))  # lam of the clipped box


def apply_mix(inputs: torch.Tensor, params: MixParams) -> torch.Tensor:
    """Mix inputs (B, ...) with their partners: a weighted sum (mixup) or a pasted box (cutmix, (B, C, H, W))."""
    partners = inputs[params.partner]
    if params.box is None:
        return params.lam * inputs + (1.0 - params.lam) * partners
    top, left, bottom, right = params.box
    mixed = inputs.clone()
    mixed[..., top:bottom, left:right] = partners[..., top:bottom, left:right]
    return mixed


def mix_batch(batch: Batch, options: AugmentOptions, seed: int) -> Batch:
    """Mix a collated batch (with ``index`` and ``view``) in place of its inputs and record the parameters."""
    inputs, index, views = batch["inputs"], batch["index"], batch["view"]
    if not isinstance(inputs, torch.Tensor):
        raise ConfigError("mixup/cutmix need tensor inputs; this source gives a dict of inputs; set mix: none")
    if len(views) and not bool((views == views[0]).all()):
        raise ConfigError("a mixed batch must hold one view; build it with kdistill.sources.source_loader")
    view = int(views[0]) if len(views) else 0
    image_size = (int(inputs.shape[-2]), int(inputs.shape[-1])) if inputs.ndim == 4 else None
    params = mix_params(options, seed, view, index, image_size)
    batch["inputs"] = apply_mix(inputs, params)
    batch["mix_index"] = params.partner
    batch["mix_partner"] = index[params.partner]
    batch["mix_labels"] = batch["labels"][params.partner]
    batch["mix_lambda"] = torch.full((len(index),), params.lam, dtype=torch.float32)
    if params.box is not None:
        batch["mix_box"] = torch.tensor([params.box] * len(index), dtype=torch.long).view(-1, 4)
    return batch

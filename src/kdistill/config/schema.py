"""The recipe schema: nested dataclasses, so a recipe is data that is validated key by key.

A recipe YAML maps onto :class:`Recipe`. Unknown keys are errors that name the key and list the valid ones; values
are checked against the field types. No key names an import path: models, datasets and methods are chosen by their
registered names.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any, Literal

from kdistill.arguments import NonNegativeInt, Positive, PositiveInt, Temperature
from kdistill.data.warp_options import WarpOptions
from kdistill.errors import ConfigError
from kdistill.training.config import TrainConfig


@dataclass
class DataSection:
    """Which dataset, and how it is split and batched."""

    # a built-in dataset (kdistill data list), a data source (kdistill.sources: image-folder, npz, table,
    # hf-datasets, cifar10, cifar100) or a path to a folder / .npz / .csv / .parquet
    dataset: str = "mnist"
    options: dict[str, Any] = field(default_factory=dict)  # the data source's options (see docs/data-sources.md)
    workers: NonNegativeInt = 0  # DataLoader worker processes decoding a streamed source (0 = in this process)
    val_size: NonNegativeInt = 5000  # carved from the training set; the test set is never used for selection
    train_limit: PositiveInt | None = None  # use only this many training examples (after the validation carve)
    eval_batch_size: PositiveInt = 1000


@dataclass
class ModelSection:
    """A network, how its inputs are augmented, and how it is trained."""

    model: str = "mlp"
    model_args: dict[str, Any] = field(default_factory=dict)
    jitter: NonNegativeInt = 0  # random shifts of up to ±jitter pixels (Hinton et al. 2015 used 2 for the teacher)
    # more image augmentation, reproducible from (seed, epoch, sample): crop_padding, crop_fill (zero | reflect),
    # flip (kdistill.sources.AugmentOptions)
    augment: dict[str, Any] = field(default_factory=dict)
    # random smooth warps (rotation, scale, shear, elastic; kdistill.data.warp) of every training image, drawn afresh
    # per (seed, epoch, sample) and applied before the jitter; in-memory image datasets only. A cached student's
    # views are warped by distill.cache.warp instead.
    warp: WarpOptions = field(default_factory=WarpOptions)
    weights: str | None = None  # teacher only: load these safetensors weights instead of training
    # teacher only: train this many networks (seeds seed, seed+1, ...: different initialisations and batch orders)
    # and distil their averaged probabilities (Hinton et al. 2015's ensemble); 1 = a single teacher
    members: PositiveInt = 1
    train: TrainConfig = field(default_factory=TrainConfig)


@dataclass
class CacheSection:
    """The teacher cache (kdistill.cache): teacher outputs computed once per (sample, view) and read from disk."""

    enabled: bool = False
    views: PositiveInt = 4  # stored views per sample; epoch e trains on view (e - 1) mod views (1 if no jitter/warp)
    # distort each stored view before its jitter: rotation (deg), scale, shear (deg), elastic (px std on an
    # elastic_grid lattice); all 0 = none. Only cached views are warped (kdistill.data.warp).
    warp: WarpOptions = field(default_factory=WarpOptions)
    format: Literal["full", "topk"] = "full"  # full (fp16 logits) | topk (top-k fp16 logits + one fill logit for the rest)
    topk: PositiveInt = 10
    # language-model (sequence) caches: how the top-k log-probs are stored - fp16 (4k bytes/token) | int8 (3k + 8
    # bytes/token, each log-prob within span/510 of the teacher's; kdistill.cache.sequence_codec)
    topk_values: Literal["fp16", "int8"] = "fp16"
    temperature: Temperature | None = None  # where the top-k fill is exact; None = distill.method_args.temperature or 1
    features: list[str] = field(default_factory=list)  # teacher module names whose outputs are stored too
    dir: str | None = None  # cache folder; None = RUN_DIR/teacher-cache
    shard_size: PositiveInt = 4096  # samples per shard file
    on_mismatch: Literal["rebuild", "error"] = "rebuild"  # rebuild | error: what to do with a cache built from other weights/data/settings
    build_batch_size: PositiveInt = 1024


@dataclass
class DistillSection:
    """The distillation method and its arguments (e.g. temperature, loss weights)."""

    method: str = "hinton"
    method_args: dict[str, Any] = field(default_factory=dict)
    cache: CacheSection = field(default_factory=CacheSection)


@dataclass
class FinetuneSection:
    """Optional fine-tuning of the distilled student on hard labels; epochs = 0 skips it."""

    epochs: NonNegativeInt = 0
    lr: Positive = 0.01


@dataclass
class ReportSection:
    """What the final report measures."""

    latency_batch_sizes: list[PositiveInt] = field(default_factory=lambda: [1, 256])
    latency_repeats: PositiveInt = 30
    plots: bool = True
    reference_errors: dict[str, float] = field(default_factory=dict)  # published test errors, printed beside ours
    reference_source: str = ""


@dataclass
class Recipe:
    """A whole experiment: teacher, baseline student, distilled student, evaluation."""

    name: str = "custom"
    description: str = ""
    seed: int = 0
    # torch threads for every stage: results depend on the thread count (parallel reductions sum in another order),
    # so a recipe pins it and gives the same numbers on any machine; 1 is also bitwise-reproducible run to run
    threads: PositiveInt = 1
    data: DataSection = field(default_factory=DataSection)
    teacher: ModelSection = field(default_factory=ModelSection)
    student: ModelSection = field(default_factory=ModelSection)
    distill: DistillSection = field(default_factory=DistillSection)
    finetune: FinetuneSection = field(default_factory=FinetuneSection)
    report: ReportSection = field(default_factory=ReportSection)

    def __post_init__(self) -> None:
        if self.teacher.members < 1:
            raise ConfigError(f"teacher.members must be >= 1 (1 = a single teacher), got {self.teacher.members}")
        if self.student.members != 1:
            raise ConfigError("student.members must be 1: only the teacher can be an ensemble (teacher.members)")
        if self.teacher.members > 1 and self.teacher.weights:
            raise ConfigError("teacher.weights loads one trained network, teacher.members > 1 trains an ensemble "
                              "here; drop one of them")

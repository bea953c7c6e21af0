"""``kdistill predict RUN_DIR INPUTS``: label new inputs with a trained run's student and write a CSV.

INPUTS may be an image file or a folder of images (searched recursively; decoded the way the run's data was: the
image source's resize / color / mean / std, or the model's input size, grayscale for one channel, pixels in [0, 1]),
an ``.npz`` (array ``x``, or the only array, or ``--key``), or a ``.csv`` / ``.parquet`` table (the run's feature
columns when it trained on a table, else every numeric column). Labels in the inputs are not needed and not used.

The CSV has one row per input: ``input`` (file path or row number), ``prediction`` (class id), ``class`` (its
name), ``confidence`` and one ``p_<class>`` column per class.
"""

from __future__ import annotations

import csv
from pathlib import Path
from typing import Any

import numpy as np
import torch

from kdistill.atomic import atomic_path
from kdistill.errors import DataError
from kdistill.experiment.student import load_student, read_model_description
from kdistill.outputs import logits_of

IMAGE_SUFFIXES = (".png", ".jpg", ".jpeg", ".bmp", ".gif", ".webp")
TABLE_MARKERS = (".csv", ".parquet", ".pq")


def read_inputs(path: Path, description: dict[str, Any], key: str | None = None) -> tuple[list[str], torch.Tensor]:
    """(a name per input, inputs (N, *input_shape) float32) from a file or folder of any supported kind."""
    path = Path(path).expanduser()
    if not path.exists():
        raise DataError(f"inputs {path} do not exist; pass an image, a folder of images, an .npz, .csv or .parquet")
    if path.is_dir() or path.suffix.lower() in IMAGE_SUFFIXES:
        return read_images(path, description)
    if path.suffix.lower() == ".npz":
        return read_npz(path, key)
    if any(marker in "".join(path.suffixes).lower() for marker in TABLE_MARKERS):
        return read_table_rows(path, description)
    raise DataError(f"cannot read {path.name} as inputs: use an image, a folder of images, .npz, .csv or .parquet")


def read_images(path: Path, description: dict[str, Any]) -> tuple[list[str], torch.Tensor]:
    from kdistill.sources.images import ImageDecoder, ImageOptions, pil_mode, require_pillow

    files = sorted(p for p in ([path] if path.is_file() else path.rglob("*")) if p.suffix.lower() in IMAGE_SUFFIXES)
    if not files:
        raise DataError(f"no images ({', '.join(IMAGE_SUFFIXES)}) in {path}")
    shape = description["input_shape"]
    if len(shape) != 3:
        raise DataError(f"the run's model takes inputs of shape {tuple(shape)}, not images; pass a table or .npz")
    options = {key: value for key, value in (description.get("data_options") or {}).items()
               if key in ("color", "mean", "std")}
    options.setdefault("color", "grayscale" if shape[0] == 1 else "rgb")
    decoder = ImageDecoder(pil_mode(options["color"], "RGB"), ImageOptions(resize=list(shape[1:]), **options))
    image_module, images = require_pillow(), []
    for file in files:
        try:
            with image_module.open(file) as image:
                images.append(decoder(image))
        except (OSError, ValueError) as error:
            raise DataError(f"cannot read image {file}: {error}; fix or remove the file") from error
    return [str(file) for file in files], torch.stack(images)


def read_npz(path: Path, key: str | None) -> tuple[list[str], torch.Tensor]:
    try:
        with np.load(path, allow_pickle=False) as arrays:
            names = list(arrays.files)
            chosen = key or ("x" if "x" in names else names[0] if len(names) == 1 else None)
            if chosen not in names:
                raise DataError(f"{path} holds arrays {', '.join(names)}; name the inputs with --key")
            values = arrays[chosen]
    except (OSError, ValueError) as error:
        raise DataError(f"cannot read {path} as .npz ({error})") from error
    from kdistill.sources.arrays import ArrayConverter

    convert = ArrayConverter()  # as the npz source reads arrays: uint8 -> [0, 1], (H, W) samples -> (1, H, W)
    return [str(row) for row in range(len(values))], torch.stack([convert(sample) for sample in values])


def read_table_rows(path: Path, description: dict[str, Any]) -> tuple[list[str], torch.Tensor]:
    from kdistill.sources.table import read_table

    frame = read_table(path)
    columns = description.get("feature_names")
    if columns:
        missing = [column for column in columns if column not in frame.columns]
        if missing:
            raise DataError(f"{path} lacks the column(s) {', '.join(missing[:5])} the student was trained on")
    else:
        columns = [column for column in frame.columns if np.issubdtype(frame[column].dtype, np.number)]
    values = frame[columns].to_numpy(dtype=np.float32)
    if not np.isfinite(values).all():
        raise DataError(f"{path} has missing or infinite values in the feature columns; fill or drop those rows")
    return [str(row) for row in range(len(values))], torch.from_numpy(values)


@torch.no_grad()
def predict_inputs(run_dir: str | Path, inputs: str | Path, out: str | Path | None = None, stage: str | None = None,
                   key: str | None = None, batch_size: int = 256) -> Path:
    """Label ``inputs`` with the run's student (see the module docstring); returns the CSV's path."""
    description = read_model_description(Path(run_dir))
    model = load_student(run_dir, stage)
    names, tensor = read_inputs(Path(inputs), description, key)
    expected = tuple(description["input_shape"])
    if tuple(tensor.shape[1:]) != expected:
        raise DataError(f"inputs have shape {tuple(tensor.shape[1:])} per sample but the student takes {expected}")
    probabilities = torch.cat([logits_of(model(tensor[start:start + batch_size])).float().softmax(-1)
                               for start in range(0, len(tensor), batch_size)])  # (N, C)
    class_names = description["class_names"]
    out = Path(out) if out is not None else Path(run_dir) / "predictions.csv"
    with atomic_path(out) as temporary, open(temporary, "w", newline="") as handle:
        writer = csv.writer(handle)
        writer.writerow(["input", "prediction", "class", "confidence", *(f"p_{name}" for name in class_names)])
        for name, row in zip(names, probabilities.tolist()):
            best = int(np.argmax(row))
            writer.writerow([name, best, class_names[best], f"{row[best]:.6f}", *(f"{p:.6f}" for p in row)])
    return out

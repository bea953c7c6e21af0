"""PNG figures for a run: training curves, reliability diagram, teacher vs student confusion matrices.

matplotlib is an optional extra, imported inside each function. Figures are built with ``matplotlib.figure.Figure``
and the Agg canvas directly, never through ``pyplot``: no global backend switch in the caller's process (a notebook
keeps its own backend) and no figure registry to leak memory across many plots.
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any

import torch

from kdistill.atomic import atomic_path
from kdistill.errors import KdistillError
from kdistill.evaluation.metrics import confusion_matrix, expected_calibration_error, reliability_bins

PLOTS_EXTRA_HINT = "install the plots extra: pip install 'kdistill[plots]'"


def plot_training_curves(histories: dict[str, list[dict[str, Any]]], path: str | os.PathLike) -> Path:
    """Two panels, one colour per model: loss per epoch (train solid, val dashed) and validation accuracy.

    ``histories[name]`` is a list of per-epoch records with keys epoch, train_loss, train_accuracy, val_loss,
    val_accuracy; missing or None values are skipped (e.g. a run without a validation split).
    """
    figure = _new_figure(figsize=(11, 4.2))
    from matplotlib.ticker import MaxNLocator

    loss_axes, accuracy_axes = figure.subplots(1, 2)
    for index, (name, records) in enumerate(histories.items()):
        color = f"C{index % 10}"
        _plot_series(loss_axes, records, "train_loss", color=color, label=f"{name} train")
        _plot_series(loss_axes, records, "val_loss", color=color, linestyle="--", label=f"{name} val")
        _plot_series(accuracy_axes, records, "val_accuracy", color=color, marker="o", markersize=3, label=name)
    loss_axes.set(title="Loss", xlabel="epoch", ylabel="loss")
    accuracy_axes.set(title="Validation accuracy", xlabel="epoch", ylabel="accuracy")
    for axes in (loss_axes, accuracy_axes):
        axes.xaxis.set_major_locator(MaxNLocator(integer=True))  # epochs are whole numbers
        axes.grid(alpha=0.3)
        if axes.lines:
            axes.legend(fontsize="small")
    return _save(figure, path)


def plot_reliability(
    named_probs_labels: dict[str, tuple[torch.Tensor, torch.Tensor]], path: str | os.PathLike, n_bins: int = 15
) -> Path:
    """Reliability diagram: accuracy vs mean confidence per bin, one line per model, the diagonal is calibrated.

    ``named_probs_labels[name] = (probs (N, C), labels (N,))``; the legend gives each model's ECE.
    """
    figure = _new_figure(figsize=(5.5, 5.5))
    axes = figure.subplots()
    axes.plot([0, 1], [0, 1], color="0.6", linestyle=":", label="perfect calibration")
    for index, (name, (probs, labels)) in enumerate(named_probs_labels.items()):
        bins = reliability_bins(probs, labels, n_bins)
        filled = bins["count"] > 0  # empty bins have no accuracy to draw
        ece = expected_calibration_error(probs, labels, n_bins)
        axes.plot(
            bins["confidence"][filled].numpy(),
            bins["accuracy"][filled].numpy(),
            marker="o",
            markersize=4,
            color=f"C{index % 10}",
            label=f"{name} (ECE {ece:.3f})",
        )
    axes.set(title="Reliability diagram", xlabel="confidence", ylabel="accuracy", xlim=(0, 1), ylim=(0, 1))
    axes.set_aspect("equal")
    axes.grid(alpha=0.3)
    axes.legend(fontsize="small", loc="upper left")
    return _save(figure, path)


def plot_confusion(
    teacher_pred: torch.Tensor,
    student_pred: torch.Tensor,
    labels: torch.Tensor,
    num_classes: int,
    path: str | os.PathLike,
    class_names: list[str] | None = None,
    reference_name: str = "teacher",
) -> Path:
    """Where teacher and student go wrong: their error rates side by side, then student minus teacher.

    ``reference_name`` titles the first model's panels when it is not a teacher (e.g. the student trained alone, for
    a method without a pre-trained teacher).

    Row = true class, column = predicted class, each row normalised by the class's count. A 98%-accurate model's
    matrix is all diagonal, so the colour scale covers the off-diagonal cells only (shared by both panels); the
    diagonal is grey and annotated with the per-class recall. The third panel (red: the student confuses the pair
    more than the teacher) shows which of the teacher's distinctions the student did not learn. Cells are annotated
    when there are at most 12 classes.
    """
    names = class_names if class_names is not None else [str(index) for index in range(num_classes)]
    if len(names) != num_classes:
        raise KdistillError(f"class_names has {len(names)} entries but num_classes is {num_classes}; make them match")
    rates, accuracies = {}, {}
    reference = reference_name[:1].upper() + reference_name[1:]
    for title, pred in ((reference, teacher_pred), ("Student", student_pred)):
        counts = confusion_matrix(pred, labels, num_classes).double()
        rates[title] = counts / counts.sum(dim=1, keepdim=True).clamp(min=1)  # absent classes stay all-zero rows
        accuracies[title] = counts.diag().sum().item() / max(counts.sum().item(), 1)
    off_diagonal = ~torch.eye(num_classes, dtype=torch.bool)
    error_max = max(max(float(r[off_diagonal].max()) for r in rates.values()) if num_classes > 1 else 0.0, 1e-3)
    difference = (rates["Student"] - rates[reference]) * off_diagonal
    difference_max = max(float(difference.abs().max()), 1e-3)

    size = min(4.5 + 0.25 * num_classes, 12.0)
    figure = _new_figure(figsize=(3 * size + 1.5, size))
    panels = figure.subplots(1, 3)
    for axes, title in zip(panels[:2], (reference, "Student")):
        errors = rates[title].masked_fill(~off_diagonal, float("nan"))
        image = axes.imshow(errors.numpy(), cmap="Reds", vmin=0.0, vmax=error_max)
        axes.imshow(_diagonal_mask(num_classes), cmap="Greys", vmin=0.0, vmax=4.0)
        axes.set(title=f"{title} errors (accuracy {100 * accuracies[title]:.2f}%)")
        _label_axes(axes, names)
        if num_classes <= 12:
            _annotate(axes, rates[title], error_max)
    figure.colorbar(image, ax=list(panels[:2]), shrink=0.8,
                    label="fraction of true class (off-diagonal); cells: % of the true class")
    image = panels[2].imshow(difference.numpy(), cmap="RdBu_r", vmin=-difference_max, vmax=difference_max)
    panels[2].set(title=f"Student − {reference_name} (red: student worse)")
    _label_axes(panels[2], names)
    if num_classes <= 12:
        _annotate(panels[2], difference, difference_max, signed=True)
    figure.colorbar(image, ax=panels[2], shrink=0.8, label="difference in fraction of true class")
    return _save(figure, path)


def _diagonal_mask(num_classes: int) -> Any:
    """An image that is grey on the diagonal and transparent elsewhere."""
    mask = torch.full((num_classes, num_classes), float("nan"))
    mask.fill_diagonal_(1.0)
    return mask.numpy()


def _label_axes(axes: Any, names: list[str]) -> None:
    axes.set(xlabel="predicted", ylabel="true")
    axes.set_xticks(range(len(names)), names, rotation=90 if len(names) > 10 else 0)
    axes.set_yticks(range(len(names)), names)


def _annotate(axes: Any, rates: torch.Tensor, scale_max: float, signed: bool = False) -> None:
    for row in range(rates.shape[0]):
        for column in range(rates.shape[1]):
            value = rates[row, column].item()
            if abs(value) >= 0.0005:  # skip cells that would print as 0.0: the empty ones read as zero anyway
                # White text on dark cells, black on light ones, so every number stays legible.
                dark = row != column and abs(value) > 0.6 * scale_max
                # in percent of the true class, one decimal: a 98%-accurate model's errors are fractions of 1%
                text = f"{100 * value:+.1f}" if signed else f"{100 * value:.1f}"
                axes.text(column, row, text, ha="center", va="center", fontsize=7,
                          color="white" if dark else "black")


def _plot_series(axes: Any, records: list[dict[str, Any]], key: str, **style: Any) -> None:
    points = [(record.get("epoch", i), record.get(key)) for i, record in enumerate(records)]
    points = [(epoch, value) for epoch, value in points if value is not None]
    if points:
        epochs, values = zip(*points)
        axes.plot(epochs, values, **style)


def _new_figure(figsize: tuple[float, float]) -> Any:
    try:
        from matplotlib.figure import Figure
    except ImportError:
        raise KdistillError(f"plotting needs matplotlib; {PLOTS_EXTRA_HINT}") from None
    return Figure(figsize=figsize, layout="constrained")


def _save(figure: Any, path: str | os.PathLike) -> Path:
    from matplotlib.backends.backend_agg import FigureCanvasAgg

    FigureCanvasAgg(figure)  # attach the Agg canvas explicitly: PNG output with no display and no pyplot state
    path = Path(path)
    with atomic_path(path) as temporary:
        figure.savefig(temporary, format="png", dpi=120)  # format given: the temporary name ends in .tmp
    return path

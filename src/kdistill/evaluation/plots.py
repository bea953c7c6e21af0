"""Figures for a run: training curves, reliability, teacher vs student confusion, per-class accuracy, the teacher's
class similarity, and runs overlaid (``kdistill compare``). ``draw_*`` build a figure from plain data (what
report.json stores, so the HTML page re-renders without the models); ``plot_*`` write the run folder's PNGs.

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
from kdistill.evaluation.metrics import confusion_matrix, reliability_bins

PLOTS_EXTRA_HINT = "install the plots extra: pip install 'kdistill[plots]'"


def plot_training_curves(histories: dict[str, list[dict[str, Any]]], path: str | os.PathLike) -> Path:
    """Two panels, one colour per model: loss per epoch (train solid, val dashed) and validation accuracy.

    ``histories[name]`` is a list of per-epoch records with keys epoch, train_loss, train_accuracy, val_loss,
    val_accuracy; missing or None values are skipped (e.g. a run without a validation split).
    """
    return _save(draw_training_curves(histories), path)


def draw_training_curves(histories: dict[str, list[dict[str, Any]]]) -> Any:
    """The figure of :func:`plot_training_curves`."""
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
    return figure


def plot_reliability(
    named_probs_labels: dict[str, tuple[torch.Tensor, torch.Tensor]], path: str | os.PathLike, n_bins: int = 15
) -> Path:
    """Reliability diagram: accuracy vs mean confidence per bin, one line per model, the diagonal is calibrated.

    ``named_probs_labels[name] = (probs (N, C), labels (N,))``; the legend gives each model's ECE.
    """
    bins = {name: reliability_bins(probs, labels, n_bins) for name, (probs, labels) in named_probs_labels.items()}
    return _save(draw_reliability(bins), path)


def draw_reliability(named_bins: dict[str, dict[str, Any]]) -> Any:
    """The reliability diagram from each model's bins (``reliability_bins``: confidence, accuracy, count; lists or
    tensors, NaN or None for empty bins); the legend's ECE is computed from the bins."""
    figure = _new_figure(figsize=(5.5, 5.5))
    axes = figure.subplots()
    axes.plot([0, 1], [0, 1], color="0.6", linestyle=":", label="perfect calibration")
    for index, (name, bins) in enumerate(named_bins.items()):
        rows = [(float(c), float(a), int(n)) for c, a, n in zip(bins["confidence"], bins["accuracy"], bins["count"])
                if int(n) > 0]  # empty bins have no accuracy to draw
        total = sum(n for _, _, n in rows) or 1
        ece = sum(n / total * abs(a - c) for c, a, n in rows)
        axes.plot([c for c, _, _ in rows], [a for _, a, _ in rows], marker="o", markersize=4,
                  color=f"C{index % 10}", label=f"{name} (ECE {ece:.3f})")
    axes.set(title="Reliability diagram", xlabel="confidence", ylabel="accuracy", xlim=(0, 1), ylim=(0, 1))
    axes.set_aspect("equal")
    axes.grid(alpha=0.3)
    axes.legend(fontsize="small", loc="upper left")
    return figure


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
    counts = [confusion_matrix(pred, labels, num_classes) for pred in (teacher_pred, student_pred)]
    return _save(draw_confusion(counts[0], counts[1], names, reference_name), path)


def draw_confusion(reference_counts: Any, student_counts: Any, names: list[str], reference_name: str = "teacher") -> Any:
    """The figure of :func:`plot_confusion` from two (C, C) count matrices (row = true class; tensors or lists)."""
    num_classes = len(names)
    rates, accuracies = {}, {}
    reference = reference_name[:1].upper() + reference_name[1:]
    for title, matrix in ((reference, reference_counts), ("Student", student_counts)):
        counts = torch.as_tensor(matrix).double()
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
    return figure


def draw_per_class_accuracy(per_class: dict[str, list[float]], names: list[str]) -> Any:
    """Grouped bars: each model's accuracy on each true class (the y axis starts near the lowest bar, so the
    differences between 97% and 99% stay visible)."""
    figure = _new_figure(figsize=(min(4 + 0.55 * len(names) * max(len(per_class), 1) / 2, 16), 4.2))
    axes = figure.subplots()
    width = 0.8 / max(len(per_class), 1)
    values = [value for row in per_class.values() for value in row if value is not None]
    for index, (name, row) in enumerate(per_class.items()):
        positions = [c + (index - (len(per_class) - 1) / 2) * width for c in range(len(names))]
        axes.bar(positions, [100 * (v if v is not None else float("nan")) for v in row], width, label=name,
                 color=f"C{index % 10}")
    low = 100 * min(values) if values else 0.0
    axes.set(title="Accuracy per class", xlabel="true class", ylabel="accuracy %", ylim=(max(0.0, low - 2), 100.5))
    axes.set_xticks(range(len(names)), names, rotation=90 if len(names) > 10 else 0)
    axes.grid(axis="y", alpha=0.3)
    axes.legend(fontsize="small", ncols=min(len(per_class), 4))
    return figure


def draw_class_similarity(matrix: Any, names: list[str], temperature: float) -> Any:
    """The teacher's "dark knowledge": row i = its mean soft-target distribution at the method's temperature over
    inputs of class i. The diagonal (the right class) is hidden so the colour scale shows which wrong classes the
    teacher finds similar - what the student learns beyond the labels."""
    num_classes = len(names)
    similarity = torch.as_tensor(matrix, dtype=torch.float64)
    off_diagonal = ~torch.eye(num_classes, dtype=torch.bool)
    shown = similarity.masked_fill(~off_diagonal, float("nan"))
    size = min(4.5 + 0.3 * num_classes, 12.0)
    figure = _new_figure(figsize=(size + 1.5, size))
    axes = figure.subplots()
    # the scale spans the off-diagonal values only: at a high temperature they are all near 1/C, and the structure
    # lies in their small differences
    top = float(similarity[off_diagonal].max()) if num_classes > 1 else 1.0
    bottom = float(similarity[off_diagonal].min()) if num_classes > 1 else 0.0
    image = axes.imshow(shown.numpy(), cmap="viridis", vmin=bottom, vmax=max(top, bottom + 1e-9))
    axes.imshow(_diagonal_mask(num_classes), cmap="Greys", vmin=0.0, vmax=4.0)
    axes.set(title=f"Teacher soft targets at T = {temperature:g} (diagonal hidden)")
    axes.set(xlabel="class j (probability the teacher gives it)", ylabel="true class i")
    axes.set_xticks(range(num_classes), names, rotation=90 if num_classes > 10 else 0)
    axes.set_yticks(range(num_classes), names)
    if num_classes <= 12:  # % of the row; viridis is dark at the low end: white text there, black above
        span = max(top - bottom, 1e-12)
        for row in range(num_classes):
            for column in range(num_classes):
                if row != column:
                    value = float(similarity[row, column])
                    axes.text(column, row, f"{100 * value:.1f}", ha="center", va="center", fontsize=7,
                              color="white" if (value - bottom) / span < 0.5 else "black")
    figure.colorbar(image, ax=axes, shrink=0.8, label="mean probability (off-diagonal)")
    return figure


def draw_stage_curves(runs: dict[str, dict[str, list[dict[str, Any]]]], key: str = "val_accuracy") -> Any:
    """``kdistill compare``: one panel per stage, one line per run (its ``key`` per epoch)."""
    from matplotlib.ticker import MaxNLocator

    stages = list(dict.fromkeys(stage for histories in runs.values() for stage in histories))
    figure = _new_figure(figsize=(min(4.2 * max(len(stages), 1), 17), 4))
    panels = figure.subplots(1, max(len(stages), 1), squeeze=False)[0]
    for axes, stage in zip(panels, stages):
        for index, (run, histories) in enumerate(runs.items()):
            _plot_series(axes, histories.get(stage, []), key, color=f"C{index % 10}", marker="o", markersize=3,
                         label=run)
        axes.set(title=stage, xlabel="epoch", ylabel=key.replace("_", " "))
        axes.xaxis.set_major_locator(MaxNLocator(integer=True))
        axes.grid(alpha=0.3)
        if axes.lines:
            axes.legend(fontsize="x-small")
    return figure


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


def figure_png(figure: Any) -> bytes:
    """The figure as PNG bytes (for pages that embed their images)."""
    import io

    from matplotlib.backends.backend_agg import FigureCanvasAgg

    FigureCanvasAgg(figure)
    buffer = io.BytesIO()
    figure.savefig(buffer, format="png", dpi=100)
    return buffer.getvalue()


def _save(figure: Any, path: str | os.PathLike) -> Path:
    from matplotlib.backends.backend_agg import FigureCanvasAgg

    FigureCanvasAgg(figure)  # attach the Agg canvas explicitly: PNG output with no display and no pyplot state
    path = Path(path)
    with atomic_path(path) as temporary:
        figure.savefig(temporary, format="png", dpi=120)  # format given: the temporary name ends in .tmp
    return path

"""Running averages of the step dict's terms over an epoch, for the progress bar and the epoch record."""

from __future__ import annotations

import torch

from kdistill.losses import IGNORE_INDEX


class RunningMeans:
    """Sample-weighted means of loss terms, plus accuracy of the student's output against hard labels."""

    def __init__(self) -> None:
        self.sums: dict[str, float] = {}
        self.samples = 0
        self.correct = 0
        self.labelled = 0

    def update(self, step: dict[str, torch.Tensor], labels: torch.Tensor | None, size: int) -> None:
        self.samples += size
        for name, value in step.items():
            if name != "output" and isinstance(value, torch.Tensor) and value.dim() == 0:
                self.sums[name] = self.sums.get(name, 0.0) + float(value.detach()) * size
        output = step.get("output")
        # accuracy only makes sense for class-id labels matching the output positions
        if labels is not None and output is not None and labels.shape == output.shape[:-1] and not labels.is_floating_point():
            valid = labels != IGNORE_INDEX
            predictions = output.detach().argmax(-1)
            self.correct += int(((predictions == labels) & valid).sum())
            self.labelled += int(valid.sum())

    def means(self) -> dict[str, float]:
        result = {name: total / max(1, self.samples) for name, total in self.sums.items()}
        if self.labelled:
            result["accuracy"] = self.correct / self.labelled
        return result

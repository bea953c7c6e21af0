"""RSS over time while training streams a teacher cache several times larger than the training data.

Run in a child process (``python benchmarks/teacher_cache.py --memory-child JSON``) so the parent's memory does not
count. The child trains the small MLP student for a few epochs with Hinton KD from the cache and, every step, also
reads a stored teacher hidden layer (as a hint method would): that layer is what makes the cache large. Every
``sample_every`` steps it records /proc/self/statm (resident and file-backed resident pages), so the curve shows
training only - the data loading before it is recorded once as the starting point.
"""

from __future__ import annotations

import os
import resource
import time
from pathlib import Path
from typing import Any

import torch

PAGE_MB = os.sysconf("SC_PAGE_SIZE") / 2**20


def statm_mb() -> tuple[float, float]:
    """(resident MB, file-backed resident MB) of this process, from /proc/self/statm."""
    fields = Path("/proc/self/statm").read_text().split()
    return int(fields[1]) * PAGE_MB, int(fields[2]) * PAGE_MB


class RssSampler:
    """Records (step, seconds, resident MB, file-backed MB) every ``every`` calls of ``step()``."""

    def __init__(self, every: int):
        self.every, self.steps, self.started = every, 0, time.perf_counter()
        self.series: list[tuple[int, float, float, float]] = []
        self.sample()

    def sample(self) -> None:
        resident, file_backed = statm_mb()
        self.series.append((self.steps, round(time.perf_counter() - self.started, 3), round(resident, 2),
                            round(file_backed, 2)))

    def step(self) -> None:
        self.steps += 1
        if self.steps % self.every == 0:
            self.sample()


class FeatureReadingHinton(torch.nn.Module):
    """Hinton KD from the cache that also reads the stored hidden layer every step, and samples RSS."""

    def __init__(self, hinton: torch.nn.Module, cached_teacher, sampler: RssSampler):
        super().__init__()
        self.hinton, self.cached, self.sampler = hinton, cached_teacher, sampler
        self.feature_values = 0

    def forward(self, batch, student):
        self.feature_values += sum(f.numel() for f in self.cached.features(batch).values())
        self.sampler.step()
        return self.hinton(batch, student)


def summarise(series: list[tuple[int, float, float, float]], epochs: int, steps_per_epoch: int) -> dict[str, Any]:
    """RSS before training, after the first sampled steps (the loop's own allocations done), its growth after that
    - overall and by the end of each epoch - and the peak file-backed part."""
    before, warm = series[0][2], next(point for point in series if point[0] > 0)[2]
    per_epoch = []
    for epoch in range(1, epochs + 1):
        inside = [point[2] for point in series if (epoch - 1) * steps_per_epoch < point[0] <= epoch * steps_per_epoch]
        per_epoch.append(round(max(inside) - warm, 1) if inside else None)
    return {"rss_before_training_mb": before, "rss_after_warmup_mb": warm,
            "rss_peak_training_mb": max(p[2] for p in series),
            "rss_growth_after_warmup_mb": round(max(p[2] for p in series) - warm, 1),
            "file_rss_peak_mb": max(p[3] for p in series), "growth_by_end_of_epoch_mb": per_epoch,
            "peak_rss_process_mb": resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024}


def plot_curves(cells: dict[str, dict[str, Any]], path: Path) -> bool:
    """RSS over training steps for each memory cell, as a PNG; False when matplotlib (plots extra) is absent."""
    try:
        import matplotlib

        matplotlib.use("Agg")
        import matplotlib.pyplot as plt
    except ImportError:
        return False
    figure, axis = plt.subplots(figsize=(7, 4))
    for name, cell in cells.items():
        steps = [point[0] for point in cell["series"]]
        axis.plot(steps, [point[2] for point in cell["series"]], label=f"{name}: resident")
        axis.plot(steps, [point[3] for point in cell["series"]], linestyle="--", label=f"{name}: file-backed")
    axis.set_xlabel("training step")
    axis.set_ylabel("MB")
    axis.set_title("RSS while training reads a teacher cache with stored features")
    axis.legend(fontsize=7)
    figure.tight_layout()
    figure.savefig(path, dpi=110)
    plt.close(figure)
    return True

"""Teacher labels for a transfer set, computed in batches with a progress bar.

Batching bounds memory (a stack or a large forest materialises per-tree outputs) and lets a long labelling run
show progress. Classification labels are ``predict_proba`` rows (n, C); regression labels are ``predict`` (n,).
"""

from __future__ import annotations

from typing import Any, Literal

import numpy as np
import pandas as pd
from tqdm.auto import tqdm

from kdistill.errors import ConfigError


def teacher_labels(
    teacher: Any,
    X: Any,
    task: Literal["classification", "regression"],
    batch_size: int = 8192,
    progress: bool = True,
) -> np.ndarray:
    """Teacher outputs for every row of ``X``: (n, C) probabilities or (n,) predictions, in row order."""
    method = "predict_proba" if task == "classification" else "predict"
    if not hasattr(teacher, method):
        raise ConfigError(f"the teacher {type(teacher).__name__} has no {method}(); {task} distillation needs it")
    predict = getattr(teacher, method)
    n_rows = len(X)
    chunks = []
    for start in tqdm(range(0, n_rows, batch_size), desc="teacher labels", disable=not progress, unit="batch"):
        rows = X.iloc[start : start + batch_size] if isinstance(X, pd.DataFrame) else X[start : start + batch_size]
        chunks.append(np.asarray(predict(rows), dtype=np.float64))
    if not chunks:
        return np.zeros((0,) if task == "regression" else (0, len(getattr(teacher, "classes_", []))))
    return np.concatenate(chunks, axis=0)

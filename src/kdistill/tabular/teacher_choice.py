"""``teacher="auto"``: train each candidate teacher on the fitting rows and keep the best on the validation rows.

No single teacher leads everywhere: with the boosting students of results/tabular_boosting_gain.md (3 seeds) the
stack (random forest + gradient boosting + linear combiner) is the stronger teacher on hpc_data (test AUC 0.9556 vs
LightGBM 0.9493) and mlc_churn (0.9214 vs 0.9179), LightGBM on california_housing (R² 0.8178 vs 0.8119) - and a
student gains from its teacher's lead. The candidates are fitted and scored like any teacher (a LightGBM stops early
on the validation rows); the score is the validation metric the students are compared with (AUC / accuracy / R²).
A candidate whose package is missing (LightGBM without the ``tabular`` extra) is skipped, not fatal.
"""

from __future__ import annotations

import logging
import time
from typing import Any

import numpy as np

from kdistill.errors import ConfigError
from kdistill.tabular.teachers import TEACHERS, fit_teacher

AUTO = "auto"
CANDIDATES = ("lightgbm", "stack")  # the teachers "auto" tries, in order (ties keep the first)

log = logging.getLogger(__name__)


def choose_teacher(task: str, X: Any, y: np.ndarray, random_state: int,
                   validation: tuple[Any, Any] | None) -> tuple[Any, list[dict[str, Any]]]:
    """(the fitted candidate with the best validation score, one row per candidate: name, metric, score, seconds)."""
    from kdistill.tabular.selection import validation_score

    if validation is None or len(validation[1]) == 0:
        raise ConfigError("teacher='auto' chooses a teacher on validation rows; set validation_size > 0 (and give "
                          "enough rows) or name a teacher")
    fitted, rows = [], []
    for name in CANDIDATES:
        try:
            model = TEACHERS.build(name, task=task, X=X, random_state=random_state)
        except ConfigError as error:  # its package is not installed
            log.warning("teacher='auto' skips %s: %s", name, error)
            continue
        started = time.perf_counter()
        model = fit_teacher(model, X, y, validation)
        metric, score = validation_score(model, validation[0], validation[1], task)
        rows.append({"teacher": name, "metric": metric, "score": score, "fit_seconds": time.perf_counter() - started})
        fitted.append(model)
    if not fitted:
        raise ConfigError(f"teacher='auto' could build none of {', '.join(CANDIDATES)}; pip install 'kdistill[tabular]'")
    best = max(range(len(rows)), key=lambda i: (rows[i]["score"], -i))
    for index, row in enumerate(rows):
        row["chosen"] = index == best
    log.info("teacher='auto' chose %s (%s)", rows[best]["teacher"],
             ", ".join(f"{row['teacher']} {row['metric']} {row['score']:.4f}" for row in rows))
    return fitted[best], rows

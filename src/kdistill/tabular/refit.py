"""Refit on every training row once the validation rows have chosen (what AutoGluon calls ``refit_full``).

The search trains the teacher and every candidate student on the fitting rows only - the validation rows must stay
unseen to compare them. Once the choice is made those rows have done their job, and throwing them away costs
accuracy: on california (3,750 training rows, seed 0 of the AutoGluon side-by-side split) a LightGBM trained on the
80 % fitting rows scored test R² 0.8247, on all rows 0.838 (results/tabular_autogluon_kdistill.md shows the effect
on the kept students). So the teacher is trained again on all rows with the number of trees its early stopping
chose, new transfer rows are drawn from all rows and labelled by it, and the kept students are trained again with
the sizes the validation rows chose (a boosting student's kept rounds; tree, MLP and linear sizes as they were).

Nothing is chosen after this step: there are no unseen rows left to choose with. A user-fitted teacher is kept as
it is (it was not ours to retrain).
"""

from __future__ import annotations

from typing import Any

import numpy as np
from sklearn.base import clone

from kdistill.tabular.selection import (
    Fitted,
    SharedData,
    fit_candidate,
    interleaved_latency,
    latency_batch,
    saved_size_bytes,
    within_budget,
)
from kdistill.tabular.teachers import fit_teacher, is_fitted, unwrap_model
from kdistill.tabular.validation import TargetError


def refit_on_all_rows(model: Any, X: Any, y: np.ndarray, X_val: Any, augment_seed: int, student_seed: int) -> None:
    """The last step of ``DistilledClassifier / DistilledRegressor.fit``: teacher, transfer rows and kept students
    trained again on every training row (``X``, ``y``), in place on ``model``.

    Uses what the estimator's search left: ``teacher_``, ``kept_fit_``, ``variant_fits_``, its budget, and its
    ``_shared_data`` / ``_holding`` / ``_predict_function`` / ``_install``. With a budget the refit student (same
    sizes, more rows) is timed in turns with the searched one on validation rows, and kept only within the budget.
    """
    model.teacher_, done = refit_teacher(model.teacher, model.teacher_, X, y)
    if model._task == "classification" and not np.array_equal(np.asarray(model.teacher_.classes_), model.classes_):
        raise TargetError(f"the teacher refit on all rows has classes {list(model.teacher_.classes_)}, not "
                          f"{model.classes_.tolist()}; pass refit=False")
    data = model._shared_data(X, y, None, None, augment_seed)
    searched = model.kept_fit_
    kept = refit_candidate(searched, data, student_seed)
    done.update(rows=len(y), transfer_rows=len(data.X_transfer), student_params=fixed_size_params(searched))
    if model.max_latency_ms is not None or model.max_size_bytes is not None:
        light = model._holding(kept)
        timed = interleaved_latency({"refit": model._predict_function(light),
                                     "searched": model._predict_function(model._holding(searched))},
                                    latency_batch(X_val, student_seed))
        row = {**timed["refit"], "size_bytes": saved_size_bytes(light)}
        done.update(row, searched_latency_ms_per_1k=timed["searched"]["latency_ms_per_1k"],
                    within_budget=within_budget(row, model.max_latency_ms, model.max_size_bytes))
        if not done["within_budget"]:
            done["kept"] = "searched student (the refit one is over the budget)"
            kept = searched
    model.refit_ = done
    model.n_transfer_rows_ = len(data.X_transfer)
    model._install(kept)
    model.variant_fits_ = {variant: kept if fitted is searched else refit_candidate(fitted, data, student_seed)
                           for variant, fitted in model.variant_fits_.items()}


def refit_teacher(requested: Any, fitted: Any, X: Any, y: np.ndarray) -> tuple[Any, dict[str, Any]]:
    """(the teacher trained again on all rows, what was done); ``requested`` is the estimator's ``teacher``
    argument: a fitted estimator there is returned unchanged."""
    if requested is not None and not isinstance(requested, str) and is_fitted(requested):
        return fitted, {"teacher": "kept (fitted by the user)"}
    again = clone(fitted)
    rounds = _early_stopped_rounds(fitted)
    if rounds:
        model = unwrap_model(again)
        model.set_params(n_estimators=rounds)
    return fit_teacher(again, X, y, validation=None), {"teacher": "refit", "teacher_rounds": rounds}


def _early_stopped_rounds(teacher: Any) -> int | None:
    """The trees a LightGBM teacher kept when it stopped early on the validation rows (None: it did not stop)."""
    best = getattr(unwrap_model(teacher), "best_iteration_", None)
    return int(best) if best else None


def fixed_size_params(fitted: Fitted) -> dict[str, Any]:
    """The candidate's params with the size its validation rows chose made explicit (boosting: the kept rounds)."""
    params = dict(fitted.params)
    rounds = getattr(fitted.student, "n_rounds_", None)
    if fitted.family == "boosting" and rounds:
        params["max_iter"] = int(rounds)
    return params


def refit_candidate(fitted: Fitted, data: SharedData, seed: int) -> Fitted:
    """``fitted``'s family, variant and chosen size trained again on ``data`` (all rows, no validation rows)."""
    again = fit_candidate(fitted.family, fixed_size_params(fitted), fitted.variant, data, seed)
    again.params = dict(fitted.params)  # report the searched params; the kept rounds are in refit_
    return again

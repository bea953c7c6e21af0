"""``DistilledClassifier`` and ``DistilledRegressor``: a big teacher compressed into one small student that never
loses to the same student trained directly on the labels.

    student = DistilledClassifier(teacher="lightgbm", student="tree").fit(X, y)
    student.chosen_, student.distilled_score_, student.direct_score_      # which was kept; both validation scores
    fast = DistilledClassifier(student="auto", max_latency_ms=1.0, max_size_bytes=200_000).fit(X, y)
    fast.candidates_                                                      # every family/size tried, both variants

``fit``: (1) carve ``validation_size`` of the training rows as validation rows (stratified by class, or by quantile
bin of a regression target), (2) resolve the teacher on the other rows (a named LightGBM teacher stops early on the
validation rows), (3) draw ``augmentation_multiplier * n`` synthetic rows (FAST-DAD Gibbs, MUNGE, noise, or none) and
label real + synthetic rows with the teacher once (:mod:`kdistill.tabular.selection` shares them between candidates),
(4) train each candidate student twice - on the teacher's soft targets ("distilled") and on the labels ("direct") -
and score both on the validation rows, (5) keep the better (``prefer="better"``), or the variant ``prefer`` names,
(6) with ``refit=True`` (default) train the teacher, the transfer rows and the kept students again on all training
rows, validation rows included, at the sizes the validation rows chose (:mod:`kdistill.tabular.refit`).
``student="auto"`` (or a budget) searches families and sizes (:func:`kdistill.tabular.sizing.candidate_grid`) and keeps
the best validation score whose CPU time per 1k-row batch is at most ``max_latency_ms`` and whose saved file is at most
``max_size_bytes``. Without ``student_params`` a student's size scales with the rows
(:func:`kdistill.tabular.sizing.default_student_params`). The validation scores and latencies describe the students
of the search; with ``refit=False`` the kept student is that one (trained on the fitting rows only). Learned:
``student_``, ``encoder_``, ``teacher_``, ``teacher_candidates_``, ``chosen_``, ``distilled_score_``, ``direct_score_``,
``validation_metric_``, ``candidates_`` (one dict per candidate and variant: family, params, variant, score,
latency_ms_per_1k (+ _q25/_q75), size_bytes, within_budget, chosen), ``n_transfer_rows_``, ``refit_`` (None, or what
the refit did: rows, teacher rounds, the kept student's rounds and its latency when a budget is set).
With ``validation_size=0`` (or fewer than ``MIN_VALIDATION_ROWS`` rows) nothing is compared: the ``prefer`` variant
("better" = distilled) is trained on all rows and the scores are None.
"""

from __future__ import annotations

import copy
from typing import Any

import numpy as np
from sklearn.base import BaseEstimator, ClassifierMixin, RegressorMixin
from sklearn.utils import check_random_state
from sklearn.utils.multiclass import check_classification_targets
from sklearn.utils.validation import check_is_fitted

from kdistill.augment.tabular import augment, teacher_labels
from kdistill.errors import ConfigError
from kdistill.tabular.codes import CategoryCodeEncoder
from kdistill.tabular.refit import refit_on_all_rows
from kdistill.tabular.selection import (
    VARIANTS,
    Fitted,
    SharedData,
    fit_candidate,
    interleaved_latency,
    latency_batch,
    saved_size_bytes,
    validation_score,
    within_budget,
)
from kdistill.tabular.sizing import candidate_grid, default_student_params
from kdistill.tabular.soft_labels import (
    classification_targets,
    one_hot,
    regression_targets,
    untemper,
)
from kdistill.tabular.splits import holdout_rows, take_rows
from kdistill.tabular.teacher_choice import AUTO, choose_teacher
from kdistill.tabular.teachers import resolve_teacher
from kdistill.tabular.validation import TargetError, stack_rows, validate_table

PREFER = ("better", "distilled", "direct")
MIN_VALIDATION_ROWS = 20  # fewer training rows: no validation split, nothing compared
# Fitted attributes prediction does not need: dropped from the copies that are scored, timed, sized and shipped.
SEARCH_LOG = ("teacher_", "teacher_validation_", "teacher_candidates_", "candidates_", "variant_fits_", "kept_fit_",
              "refit_")


class _Distilled(BaseEstimator):
    """Shared fit/predict plumbing; subclasses set ``_task`` and how targets are built and read back."""

    _task = "classification"

    def _seeds(self) -> tuple[int, int, int, int]:
        """Independent seeds for teacher, augmenter, student and validation split, all from ``random_state``."""
        return tuple(int(s) for s in check_random_state(self.random_state).randint(0, 2**31 - 1, size=4))

    def _check_common(self) -> None:
        if self.prefer not in PREFER:
            raise ConfigError(f"prefer must be one of {', '.join(PREFER)}; got {self.prefer!r}")
        if not isinstance(self.refit, bool):
            raise ConfigError(f"refit must be True or False; got {self.refit!r}")
        if not 0 <= self.validation_size < 1:
            raise ConfigError(f"validation_size must be in [0, 1); got {self.validation_size}")
        if self.student_params is not None and not isinstance(self.student_params, dict):
            raise ConfigError(f"student_params must be a dict; got {type(self.student_params).__name__}")
        for name in ("max_latency_ms", "max_size_bytes"):
            if getattr(self, name) is not None and not getattr(self, name) > 0:
                raise ConfigError(f"{name} must be > 0 (or None for no limit); got {getattr(self, name)}")

    def _split(self, X: Any, y: np.ndarray, seed: int):
        """(X_fit, y_fit, X_val, y_val); the validation part is None when nothing is compared."""
        if self.validation_size == 0 or len(y) < MIN_VALIDATION_ROWS:
            return X, y, None, None
        kept, held = holdout_rows(y, self._task, self.validation_size, seed)
        return take_rows(X, kept), y[kept], take_rows(X, held), y[held]

    def _fit_steps(self, X: Any, y: np.ndarray) -> None:
        """Steps (1)-(6) of the module doc on checked inputs; the subclasses' ``_check_teacher`` and ``_shared_data``
        are where classification and regression differ."""
        teacher_seed, augment_seed, student_seed, split_seed = self._seeds()
        X_fit, y_fit, X_val, y_val = self._split(X, y, split_seed)
        validation = None if X_val is None else (X_val, y_val)
        self._resolve_teacher(X_fit, y_fit, teacher_seed, validation)
        self._check_teacher(y)
        data = self._shared_data(X_fit, y_fit, X_val, y_val, augment_seed)
        self.n_transfer_rows_, self.refit_ = len(data.X_transfer), None
        self._fit_students(data, student_seed)
        del data  # the search's transfer set: the refit draws its own, and both at once would double the peak memory
        if self.refit and X_val is not None:
            refit_on_all_rows(self, X, y, X_val, augment_seed, student_seed)

    def _check_teacher(self, y: np.ndarray) -> None:
        """Classification: ``classes_`` from the teacher, every label among them; regression: nothing to check."""

    def _resolve_teacher(self, X_fit: Any, y_fit: np.ndarray, seed: int, validation: tuple | None) -> None:
        """``teacher_``; with ``teacher="auto"`` also ``teacher_candidates_`` (each candidate's validation score)."""
        self.teacher_candidates_ = None
        if isinstance(self.teacher, str) and self.teacher == AUTO:
            self.teacher_, self.teacher_candidates_ = choose_teacher(self._task, X_fit, y_fit, seed, validation)
        else:
            self.teacher_ = resolve_teacher(self.teacher, self._task, X_fit, y_fit, seed, validation)

    def _transfer_set(self, X: Any, augment_seed: int) -> Any:
        if self.augmentation in (None, "none") or self.augmentation_multiplier == 0:
            return X
        synthetic = augment(X, self.augmentation, self.augmentation_multiplier, random_state=augment_seed,
                            progress=self.progress, **(self.augmentation_params or {}))
        return stack_rows(X, synthetic)

    def _candidates(self, n_rows: int) -> list[tuple[str, dict[str, Any]]]:
        searching = self.student == "auto" or self.max_latency_ms is not None or self.max_size_bytes is not None
        if self.student == "auto":
            return candidate_grid()
        if searching and self.student_params is None:
            return candidate_grid((self.student,))
        return [(self.student, {**default_student_params(self.student, n_rows), **(self.student_params or {})})]

    def _fit_students(self, data: SharedData, student_seed: int) -> None:
        """Train every candidate in every variant, score, measure, and keep the chosen one (see module doc)."""
        compare = data.X_val is not None
        variants = VARIANTS if compare else (("direct",) if self.prefer == "direct" else ("distilled",))
        rows, fits, lights = [], [], []
        for family, params in self._candidates(data.n_real_rows):
            for variant in variants:
                fitted = fit_candidate(family, params, variant, data, student_seed)
                row = {"family": family, "params": params, "variant": variant, "fit_seconds": fitted.fit_seconds}
                if compare:
                    light = self._holding(fitted)
                    self.validation_metric_, row["score"] = validation_score(light, data.X_val, data.y_val, self._task)
                    row["size_bytes"] = saved_size_bytes(light)
                    lights.append(light)
                rows.append(row)
                fits.append(fitted)
        if compare:  # a few 1k-row predictions per candidate: cheap beside training
            self._measure_latency(rows, lights, data, student_seed)
        best = self._choose(rows)
        for index, row in enumerate(rows):
            row["chosen"] = index == best
        self.candidates_ = rows
        self.kept_fit_ = fits[best]
        self._install(fits[best])
        # The best of each variant (within budget), to report both on test rows: ``variant_model(name)``.
        # A variant with no candidate within the budget is still reported, by its best candidate (within_budget False).
        ranked = sorted(enumerate(rows), key=lambda item: (item[1].get("within_budget", True), item[1].get("score", 0)))
        best_of = {row["variant"]: i for i, row in ranked}
        self.variant_fits_ = {variant: fits[index] for variant, index in best_of.items()}

    def _measure_latency(self, rows: list[dict[str, Any]], lights: list[_Distilled], data: SharedData,
                         seed: int) -> None:
        """Time the teacher and every candidate in turns on one 1k-row batch of validation rows (CPU ms per 1k rows,
        :func:`kdistill.tabular.selection.interleaved_latency`) and mark the candidates within the budget."""
        _, teacher_score = validation_score(self.teacher_, data.X_val, data.y_val, self._task)
        predicts = {"teacher": self._predict_function(self.teacher_)}
        predicts.update({index: self._predict_function(light) for index, light in enumerate(lights)})
        latencies = interleaved_latency(predicts, latency_batch(data.X_val, seed))
        self.teacher_validation_ = {"score": teacher_score, **latencies["teacher"]}
        for index, row in enumerate(rows):
            row.update(latencies[index])
            row["within_budget"] = within_budget(row, self.max_latency_ms, self.max_size_bytes)

    def _choose(self, rows: list[dict[str, Any]]) -> int:
        if "score" not in rows[0]:
            self.distilled_score_ = self.direct_score_ = self.validation_metric_ = None
            return 0
        allowed = [i for i, row in enumerate(rows) if row.get("within_budget", True)]
        if not allowed:
            fastest = min(rows, key=lambda r: r["latency_ms_per_1k"])
            smallest = min(rows, key=lambda r: float("inf") if r["size_bytes"] is None else r["size_bytes"])
            raise ConfigError(
                f"no student meets the budget (max_latency_ms={self.max_latency_ms}, max_size_bytes="
                f"{self.max_size_bytes}): the fastest took {fastest['latency_ms_per_1k']:.3g} ms per 1k rows, the "
                f"smallest saved to {smallest['size_bytes']} bytes; raise the limits")
        best_of = {variant: max((i for i in allowed if rows[i]["variant"] == variant), key=lambda i: rows[i]["score"],
                                default=None) for variant in VARIANTS}
        self.distilled_score_ = None if best_of["distilled"] is None else rows[best_of["distilled"]]["score"]
        self.direct_score_ = None if best_of["direct"] is None else rows[best_of["direct"]]["score"]
        if self.prefer != "better" and best_of[self.prefer] is not None:
            return best_of[self.prefer]
        # Ties go to the distilled student (listed first): equal on validation, it learned from more rows.
        return max(allowed, key=lambda i: (rows[i]["score"], rows[i]["variant"] == "distilled"))

    def _install(self, fitted: Fitted) -> None:
        self.student_, self.encoder_ = fitted.student, fitted.encoder
        self.output_temperature_ = fitted.output_temperature
        self.chosen_ = fitted.variant
        self.student_family_, self.student_params_ = fitted.family, fitted.params

    def _holding(self, fitted: Fitted) -> _Distilled:
        """A teacher-less copy of this estimator predicting with ``fitted`` (to score, time and size it)."""
        light = copy.copy(self)
        light.teacher = None
        for name in SEARCH_LOG:
            light.__dict__.pop(name, None)
        light._install(fitted)
        return light

    def variant_model(self, variant: str) -> _Distilled:
        """A teacher-less copy predicting with the best ``variant`` ("distilled" / "direct") student of this fit."""
        check_is_fitted(self, "variant_fits_")
        if variant not in self.variant_fits_:
            raise ConfigError(f"this fit trained no {variant} student (variants: {', '.join(self.variant_fits_)})")
        return self._holding(self.variant_fits_[variant]).without_teacher()

    def _predict_function(self, model: Any):
        return model.predict_proba if self._task == "classification" else model.predict

    def _student_output(self, X: Any) -> np.ndarray:
        check_is_fitted(self, "student_")
        # The codes encoder checks values (infinity) itself, on the numbers it builds.
        checks_itself = isinstance(self.encoder_, CategoryCodeEncoder)
        X, _ = validate_table(self, X, reset=False, check_frame_values=not checks_itself)
        return self.student_.predict_soft(self.encoder_.transform(X))

    def without_teacher(self) -> _Distilled:
        """A copy holding only what prediction needs (no teacher, no search log): small to save, safe to ship."""
        check_is_fitted(self, "student_")
        light = copy.copy(self)
        light.teacher = None
        # the other variant's student and the search log are not shipped: the saved file is what the budget measured
        for name in SEARCH_LOG:
            light.__dict__.pop(name, None)
        return light

    def __sklearn_tags__(self):
        tags = super().__sklearn_tags__()
        tags.input_tags.allow_nan = True
        return tags


class DistilledClassifier(ClassifierMixin, _Distilled):
    """Distil a classifier ensemble into a small student trained on its tempered class probabilities.

    Parameters: ``teacher`` (fitted/unfitted estimator with ``predict_proba``, a name in ``TEACHERS``, or "auto" = the
    best of :data:`kdistill.tabular.teacher_choice.CANDIDATES` on the validation rows; None = "gradient_boosting"),
    ``student`` (name in ``STUDENTS``: tree, boosting, linear, mlp; or "auto" = search) with
    ``student_params`` (None = sized to the rows), ``augmentation`` (gibbs, munge, noise, none) with
    ``augmentation_multiplier`` (synthetic rows per real row) and ``augmentation_params``, ``temperature`` T,
    ``label_weight`` w (weight of true labels on real rows), ``prefer`` ("better" | "distilled" | "direct"),
    ``validation_size`` (share of the training rows held out to compare), ``max_latency_ms`` (per 1k rows) and
    ``max_size_bytes`` (saved file) budgets, ``refit`` (train teacher and kept students again on all rows once chosen),
    ``teacher_batch_size`` and ``progress``, ``random_state``.
    """

    _task = "classification"

    def __init__(self, teacher: Any = None, student: str = "tree", student_params: dict | None = None,
                 augmentation: str | None = "gibbs", augmentation_multiplier: float = 5.0,
                 augmentation_params: dict | None = None, temperature: float = 1.0, label_weight: float = 0.0,
                 prefer: str = "better", validation_size: float = 0.2, max_latency_ms: float | None = None,
                 max_size_bytes: int | None = None, refit: bool = True, teacher_batch_size: int = 8192,
                 progress: bool = False, random_state: Any = None):
        self.teacher = teacher
        self.student = student
        self.student_params = student_params
        self.augmentation = augmentation
        self.augmentation_multiplier = augmentation_multiplier
        self.augmentation_params = augmentation_params
        self.temperature = temperature
        self.label_weight = label_weight
        self.prefer = prefer
        self.validation_size = validation_size
        self.max_latency_ms = max_latency_ms
        self.max_size_bytes = max_size_bytes
        self.refit = refit
        self.teacher_batch_size = teacher_batch_size
        self.progress = progress
        self.random_state = random_state

    def fit(self, X: Any, y: Any) -> DistilledClassifier:
        X, y = validate_table(self, X, y)
        check_classification_targets(y)
        if np.unique(y).size < 2:
            raise TargetError(f"the target has only one class ({np.unique(y)[0]!r}); a classifier needs at least 2 classes")
        if self.temperature <= 0 or not 0 <= self.label_weight <= 1:
            raise ConfigError(f"need temperature > 0 and 0 <= label_weight <= 1; got {self.temperature}, {self.label_weight}")
        self._check_common()
        self._fit_steps(X, y)
        return self

    def _check_teacher(self, y: np.ndarray) -> None:
        self.classes_ = np.asarray(self.teacher_.classes_)
        unknown = np.setdiff1d(np.unique(y), self.classes_)
        if unknown.size:
            raise TargetError(f"labels {unknown[:5].tolist()} are not among the teacher's classes {self.classes_.tolist()}")

    def _shared_data(self, X_fit: Any, y_fit: np.ndarray, X_val: Any, y_val: Any, augment_seed: int) -> SharedData:
        """Transfer rows drawn from ``X_fit`` and labelled by ``teacher_``, with everything candidates share."""
        X_transfer = self._transfer_set(X_fit, augment_seed)
        probabilities = teacher_labels(self.teacher_, X_transfer, "classification", self.teacher_batch_size, self.progress)
        fit_index = np.searchsorted(self.classes_, y_fit)
        n_classes = len(self.classes_)
        return SharedData(
            "classification", X_fit, one_hot(fit_index, n_classes), X_transfer,
            classification_targets(probabilities, fit_index, self.temperature, self.label_weight), self.temperature,
            X_val, y_val, None if X_val is None else one_hot(np.searchsorted(self.classes_, y_val), n_classes),
            n_real_rows=len(y_fit))

    def predict_proba(self, X: Any) -> np.ndarray:
        """(n, C) class probabilities, columns in ``classes_`` order."""
        return untemper(self._student_output(X), self.output_temperature_)

    def predict(self, X: Any) -> np.ndarray:
        probabilities = self.predict_proba(X)  # first: it raises NotFittedError before classes_ is looked up
        return self.classes_[np.argmax(probabilities, axis=1)]


class DistilledRegressor(RegressorMixin, _Distilled):
    """Distil a regression ensemble into a small student trained on the teacher's predictions.

    Parameters as for :class:`DistilledClassifier`, without ``temperature``; ``label_weight`` mixes in true targets.
    """

    _task = "regression"

    def __init__(self, teacher: Any = None, student: str = "tree", student_params: dict | None = None,
                 augmentation: str | None = "gibbs", augmentation_multiplier: float = 5.0,
                 augmentation_params: dict | None = None, label_weight: float = 0.0, prefer: str = "better",
                 validation_size: float = 0.2, max_latency_ms: float | None = None,
                 max_size_bytes: int | None = None, refit: bool = True, teacher_batch_size: int = 8192,
                 progress: bool = False, random_state: Any = None):
        self.teacher = teacher
        self.student = student
        self.student_params = student_params
        self.augmentation = augmentation
        self.augmentation_multiplier = augmentation_multiplier
        self.augmentation_params = augmentation_params
        self.label_weight = label_weight
        self.prefer = prefer
        self.validation_size = validation_size
        self.max_latency_ms = max_latency_ms
        self.max_size_bytes = max_size_bytes
        self.refit = refit
        self.teacher_batch_size = teacher_batch_size
        self.progress = progress
        self.random_state = random_state

    def fit(self, X: Any, y: Any) -> DistilledRegressor:
        X, y = validate_table(self, X, y, y_numeric=True)
        if not 0 <= self.label_weight <= 1:
            raise ConfigError(f"need 0 <= label_weight <= 1; got {self.label_weight}")
        self._check_common()
        self._fit_steps(X, np.asarray(y, dtype=np.float64))
        return self

    def _shared_data(self, X_fit: Any, y_fit: np.ndarray, X_val: Any, y_val: Any, augment_seed: int) -> SharedData:
        """Transfer rows drawn from ``X_fit`` and labelled by ``teacher_``, with everything candidates share."""
        X_transfer = self._transfer_set(X_fit, augment_seed)
        predictions = teacher_labels(self.teacher_, X_transfer, "regression", self.teacher_batch_size, self.progress)
        return SharedData("regression", X_fit, y_fit, X_transfer, regression_targets(predictions, y_fit, self.label_weight),
                          1.0, X_val, y_val, y_val, n_real_rows=len(y_fit))

    def predict(self, X: Any) -> np.ndarray:
        return np.asarray(self._student_output(X), dtype=np.float64).reshape(-1)

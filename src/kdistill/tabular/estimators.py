"""``DistilledClassifier`` and ``DistilledRegressor``: a big teacher compressed into one small student.

    student = DistilledClassifier(teacher=fitted_lgbm, student="tree", augmentation="gibbs").fit(X, y)

``fit``: (1) resolve the teacher (fitted / unfitted / name), (2) draw ``augmentation_multiplier * n`` synthetic
rows with the chosen augmenter (FAST-DAD Gibbs, MUNGE, noise, or none), (3) label real + synthetic rows with the
teacher in batches, (4) fit the student on soft targets (:mod:`kdistill.tabular.soft_labels`). Prediction uses
only the student (``encoder_`` then ``student_``); ``without_teacher()`` drops the teacher for export.
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
from kdistill.tabular.encoding import categorical_mask, make_encoder
from kdistill.tabular.soft_labels import classification_targets, regression_targets, untemper
from kdistill.tabular.students import build_student
from kdistill.tabular.teachers import resolve_teacher
from kdistill.tabular.validation import TargetError, stack_rows, validate_table


class _Distilled(BaseEstimator):
    """Shared fit/predict plumbing; subclasses set ``_task`` and how targets are built and read back."""

    _task = "classification"

    def _seeds(self) -> tuple[int, int, int]:
        """Independent seeds for teacher, augmenter and student, all drawn from ``random_state``."""
        teacher_seed, augment_seed, student_seed = check_random_state(self.random_state).randint(0, 2**31 - 1, size=3)
        return int(teacher_seed), int(augment_seed), int(student_seed)

    def _transfer_set(self, X: Any, augment_seed: int) -> Any:
        if self.augmentation in (None, "none") or self.augmentation_multiplier == 0:
            return X
        synthetic = augment(X, self.augmentation, self.augmentation_multiplier, random_state=augment_seed,
                            **(self.augmentation_params or {}))
        return stack_rows(X, synthetic)

    def _fit_student(self, X_transfer: Any, targets: np.ndarray, student_seed: int) -> None:
        if self.student_params is not None and not isinstance(self.student_params, dict):
            raise ConfigError(f"student_params must be a dict; got {type(self.student_params).__name__}")
        self.student_ = build_student(self.student, self._task, random_state=student_seed, **(self.student_params or {}))
        # The encoder sees the targets: the "codes" encoding orders categories by them.
        self.encoder_ = make_encoder(X_transfer, self.student_.encoding).fit(X_transfer, targets)
        self.student_.fit(self.encoder_.transform(X_transfer), targets, categorical_mask(self.encoder_))
        self.n_transfer_rows_ = len(X_transfer)

    def _student_output(self, X: Any) -> np.ndarray:
        check_is_fitted(self, "student_")
        # The codes encoder checks values (infinity) itself, on the numbers it builds.
        checks_itself = isinstance(self.encoder_, CategoryCodeEncoder)
        X, _ = validate_table(self, X, reset=False, check_frame_values=not checks_itself)
        return self.student_.predict_soft(self.encoder_.transform(X))

    def without_teacher(self) -> _Distilled:
        """A copy holding only what prediction needs (no teacher): small to save, safe to ship."""
        check_is_fitted(self, "student_")
        light = copy.copy(self)
        light.teacher = None
        light.__dict__.pop("teacher_", None)
        return light

    def __sklearn_tags__(self):
        tags = super().__sklearn_tags__()
        tags.input_tags.allow_nan = True
        return tags


class DistilledClassifier(ClassifierMixin, _Distilled):
    """Distil a classifier ensemble into a small student trained on its tempered class probabilities.

    Parameters: ``teacher`` (fitted/unfitted estimator with ``predict_proba``, or a name in ``TEACHERS``; None =
    "gradient_boosting"), ``student`` (name in ``STUDENTS``: tree, boosting, linear, mlp) with ``student_params``,
    ``augmentation`` (gibbs, munge, noise, none) with ``augmentation_multiplier`` (synthetic rows per real row)
    and ``augmentation_params``, ``temperature`` T, ``label_weight`` w (weight of true labels on real rows),
    ``teacher_batch_size`` and ``progress`` for labelling, ``random_state``.
    """

    _task = "classification"

    def __init__(self, teacher: Any = None, student: str = "tree", student_params: dict | None = None,
                 augmentation: str | None = "gibbs", augmentation_multiplier: float = 2.0,
                 augmentation_params: dict | None = None, temperature: float = 1.0, label_weight: float = 0.0,
                 teacher_batch_size: int = 8192, progress: bool = False, random_state: Any = None):
        self.teacher = teacher
        self.student = student
        self.student_params = student_params
        self.augmentation = augmentation
        self.augmentation_multiplier = augmentation_multiplier
        self.augmentation_params = augmentation_params
        self.temperature = temperature
        self.label_weight = label_weight
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
        teacher_seed, augment_seed, student_seed = self._seeds()
        self.teacher_ = resolve_teacher(self.teacher, "classification", X, y, teacher_seed)
        self.classes_ = np.asarray(self.teacher_.classes_)
        unknown = np.setdiff1d(np.unique(y), self.classes_)
        if unknown.size:
            raise TargetError(f"labels {unknown[:5].tolist()} are not among the teacher's classes {self.classes_.tolist()}")
        X_transfer = self._transfer_set(X, augment_seed)
        probabilities = teacher_labels(self.teacher_, X_transfer, "classification", self.teacher_batch_size, self.progress)
        targets = classification_targets(probabilities, np.searchsorted(self.classes_, y), self.temperature, self.label_weight)
        self._fit_student(X_transfer, targets, student_seed)
        return self

    def predict_proba(self, X: Any) -> np.ndarray:
        """(n, C) class probabilities, columns in ``classes_`` order."""
        return untemper(self._student_output(X), self.temperature)

    def predict(self, X: Any) -> np.ndarray:
        probabilities = self.predict_proba(X)  # first: it raises NotFittedError before classes_ is looked up
        return self.classes_[np.argmax(probabilities, axis=1)]


class DistilledRegressor(RegressorMixin, _Distilled):
    """Distil a regression ensemble into a small student trained on the teacher's predictions.

    Parameters as for :class:`DistilledClassifier`, without ``temperature``; ``label_weight`` mixes in true targets.
    """

    _task = "regression"

    def __init__(self, teacher: Any = None, student: str = "tree", student_params: dict | None = None,
                 augmentation: str | None = "gibbs", augmentation_multiplier: float = 2.0,
                 augmentation_params: dict | None = None, label_weight: float = 0.0,
                 teacher_batch_size: int = 8192, progress: bool = False, random_state: Any = None):
        self.teacher = teacher
        self.student = student
        self.student_params = student_params
        self.augmentation = augmentation
        self.augmentation_multiplier = augmentation_multiplier
        self.augmentation_params = augmentation_params
        self.label_weight = label_weight
        self.teacher_batch_size = teacher_batch_size
        self.progress = progress
        self.random_state = random_state

    def fit(self, X: Any, y: Any) -> DistilledRegressor:
        X, y = validate_table(self, X, y, y_numeric=True)
        if not 0 <= self.label_weight <= 1:
            raise ConfigError(f"need 0 <= label_weight <= 1; got {self.label_weight}")
        teacher_seed, augment_seed, student_seed = self._seeds()
        self.teacher_ = resolve_teacher(self.teacher, "regression", X, y, teacher_seed)
        X_transfer = self._transfer_set(X, augment_seed)
        predictions = teacher_labels(self.teacher_, X_transfer, "regression", self.teacher_batch_size, self.progress)
        self._fit_student(X_transfer, regression_targets(predictions, y, self.label_weight), student_seed)
        return self

    def predict(self, X: Any) -> np.ndarray:
        return np.asarray(self._student_output(X), dtype=np.float64).reshape(-1)

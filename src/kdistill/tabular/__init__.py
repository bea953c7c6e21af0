"""Tabular distillation: compress gradient-boosted and forest ensembles into small, fast scikit-learn models.

    from kdistill.tabular import DistilledClassifier
    small = DistilledClassifier(teacher=lgbm, student="tree", augmentation="gibbs").fit(X_train, y_train)
    small.chosen_, small.distilled_score_, small.direct_score_   # never worse than the same student on the labels
    fast = DistilledClassifier(teacher="lightgbm", student="auto", max_latency_ms=2.0).fit(X_train, y_train)
    fast.candidates_                                              # every family/size, distilled and direct, measured

Splits: :func:`kdistill.tabular.splits.holdout_rows` (stratified; regression by target bins). Sizes and the search
grid: :mod:`kdistill.tabular.sizing`. Candidate fitting, scoring, latency and size: :mod:`kdistill.tabular.selection`.

See :mod:`kdistill.augment.tabular` for the transfer-set augmenters (FAST-DAD Gibbs, MUNGE, noise).
"""

from kdistill.tabular import mlp as _mlp  # noqa: F401  (registers the "mlp" student)
from kdistill.tabular.estimators import DistilledClassifier, DistilledRegressor
from kdistill.tabular.students import STUDENTS, build_student
from kdistill.tabular.teachers import TEACHERS, resolve_teacher
from kdistill.tabular.validation import TargetError

__all__ = ["STUDENTS", "TEACHERS", "DistilledClassifier", "DistilledRegressor", "TargetError", "build_student",
           "resolve_teacher"]

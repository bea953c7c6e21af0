"""Tabular distillation: compress gradient-boosted and forest ensembles into small, fast scikit-learn models.

    from kdistill.tabular import DistilledClassifier
    small = DistilledClassifier(teacher=lgbm, student="tree", augmentation="gibbs").fit(X_train, y_train)

See :mod:`kdistill.augment.tabular` for the transfer-set augmenters (FAST-DAD Gibbs, MUNGE, noise).
"""

from kdistill.tabular import mlp as _mlp  # noqa: F401  (registers the "mlp" student)
from kdistill.tabular.estimators import DistilledClassifier, DistilledRegressor
from kdistill.tabular.students import STUDENTS, build_student
from kdistill.tabular.teachers import TEACHERS, resolve_teacher
from kdistill.tabular.validation import TargetError

__all__ = ["STUDENTS", "TEACHERS", "DistilledClassifier", "DistilledRegressor", "TargetError", "build_student",
           "resolve_teacher"]

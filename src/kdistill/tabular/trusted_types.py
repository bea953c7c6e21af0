"""The exact types a saved tabular model may hold beyond skops' own trusted defaults - never a prefix.

skops builds objects from a file's schema and refuses types it does not trust unless the caller names them. A
prefix such as ``"builtins."`` names ``builtins.eval`` too, which a crafted file calls while loading, so every entry
here is one full type name. The student list is what saving every student kind (tree, boosting, linear, mlp; with and
without categorical columns; classifier and regressor) makes ``skops.io.get_untrusted_types`` report;
``tests/tabular/test_export.py`` re-derives it, so a scikit-learn upgrade that moves a type fails a test
instead of a user's load.
"""

from __future__ import annotations

from collections.abc import Iterable

STUDENT_TYPES: frozenset[str] = frozenset({
    "kdistill.tabular.estimators.DistilledClassifier",
    "kdistill.tabular.estimators.DistilledRegressor",
    "kdistill.tabular.codes.CategoryCodeEncoder",
    "kdistill.tabular.students.TreeStudent",
    "kdistill.tabular.students.BoostingStudent",
    "kdistill.tabular.students.LinearStudent",
    "kdistill.tabular.mlp.MLPStudent",
    "numpy.dtype",  # linear and mlp students
    "sklearn.tree._tree.Tree",  # tree student
    "sklearn.ensemble._hist_gradient_boosting.predictor.TreePredictor",  # boosting student
})

# Teachers kdistill trains (TEACHERS) as users save them with skops.io.dump, and any saved student.
TEACHER_TYPES: frozenset[str] = STUDENT_TYPES | {
    "sklearn.utils._bunch.Bunch",  # stack
    "sklearn.model_selection._split.StratifiedKFold",  # stack: the shuffled folds it drew its combiner's rows from
    "sklearn.model_selection._split.KFold",
    # HistGradientBoosting with categorical features stores partial(check_array, ...). skops audits a partial's
    # function and arguments like any other node, so it can only wrap callables on this list.
    "functools.partial",
    "sklearn.utils.validation.check_array",
    "collections.OrderedDict",  # lightgbm
    "lightgbm.basic.Booster",
    "lightgbm.sklearn.LGBMClassifier",
    "lightgbm.sklearn.LGBMRegressor",
}


def refused_types(untrusted: Iterable[str], allowed: frozenset[str]) -> list[str]:
    """The types of ``untrusted`` (as listed by ``skops.io.get_untrusted_types``) that ``allowed`` does not name."""
    return sorted(name for name in untrusted if name not in allowed)

"""Teachers: any fitted estimator with ``predict_proba`` / ``predict``, an unfitted one, or a name from ``TEACHERS``.

Named teachers are big ensembles wrapped in a Pipeline with the encoding they handle best, so they read raw tables
(categoricals, strings, NaN) directly; LightGBM reads pandas categories itself and is returned bare when it
can. A fitted teacher is used as it is; an unfitted estimator is cloned and fit.

Note on ``sklearn.base.clone``: it returns *unfitted* copies of estimator parameters, so a cloned
``DistilledClassifier`` (e.g. inside ``GridSearchCV``) would retrain its teacher. Wrap a pre-fitted teacher in
``sklearn.frozen.FrozenEstimator`` to keep it fitted through cloning.
"""

from __future__ import annotations

import warnings
from typing import Any, Literal

import numpy as np
import pandas as pd
from sklearn.base import clone
from sklearn.ensemble import (
    HistGradientBoostingClassifier,
    HistGradientBoostingRegressor,
    RandomForestClassifier,
    RandomForestRegressor,
    StackingClassifier,
    StackingRegressor,
)
from sklearn.exceptions import NotFittedError
from sklearn.linear_model import LogisticRegression, RidgeCV
from sklearn.model_selection import KFold, StratifiedKFold
from sklearn.pipeline import Pipeline
from sklearn.utils.validation import check_is_fitted

from kdistill.errors import ConfigError
from kdistill.registry import Registry
from kdistill.tabular.encoding import categorical_positions, make_encoder

TEACHERS = Registry("tabular teacher")
Task = Literal["classification", "regression"]


def _pipeline(X: Any, encoding: str, model: Any) -> Pipeline:
    return Pipeline([("encode", make_encoder(X, encoding)), ("model", model)])


def _native_categories(X: Any) -> np.ndarray | None:
    """Mask for HistGradientBoosting: the ordinal encoder puts categorical columns first."""
    n_categorical, n_columns = len(categorical_positions(X)), X.shape[1]
    return np.arange(n_columns) < n_categorical if n_categorical else None


@TEACHERS.register("lightgbm")
def lightgbm_teacher(task: Task, X: Any, random_state: int, n_estimators: int = 1000, num_leaves: int = 63,
                     learning_rate: float = 0.05, n_jobs: int | None = None) -> Pipeline:
    """LightGBM gradient-boosted trees (needs the `tabular` extra: pip install 'kdistill[tabular]').

    Up to ``n_estimators`` trees; fitted through :func:`resolve_teacher` with validation rows it stops early
    (on tables whose columns LightGBM reads natively - numbers, booleans, pandas categories).
    """
    try:
        import lightgbm
    except ImportError as error:
        raise ConfigError("teacher 'lightgbm' needs LightGBM: pip install 'kdistill[tabular]'") from error
    cls = lightgbm.LGBMClassifier if task == "classification" else lightgbm.LGBMRegressor
    model = cls(n_estimators=n_estimators, num_leaves=num_leaves, learning_rate=learning_rate,
                subsample=0.8, subsample_freq=1, colsample_bytree=0.8, random_state=random_state, verbose=-1,
                **({} if n_jobs is None else {"n_jobs": n_jobs}))
    if _lightgbm_reads_natively(X):
        return model  # pandas categories and NaN are read natively: the teacher is used as LightGBM users use it
    return _pipeline(X, "tree", model)


def _lightgbm_reads_natively(X: Any) -> bool:
    """True for arrays and DataFrames whose columns are numbers, booleans or pandas categories (no raw strings)."""
    if not hasattr(X, "dtypes"):
        return True
    return all(pd.api.types.is_numeric_dtype(dtype) or isinstance(dtype, pd.CategoricalDtype) for dtype in X.dtypes)


@TEACHERS.register("gradient_boosting")
def gradient_boosting_teacher(task: Task, X: Any, random_state: int, max_iter: int = 300) -> Pipeline:
    """scikit-learn HistGradientBoosting with native categorical splits."""
    cls = HistGradientBoostingClassifier if task == "classification" else HistGradientBoostingRegressor
    model = cls(max_iter=max_iter, categorical_features=_native_categories(X), early_stopping=False,
                random_state=random_state)
    return _pipeline(X, "ordinal", model)


@TEACHERS.register("random_forest")
def random_forest_teacher(task: Task, X: Any, random_state: int, n_estimators: int = 300) -> Pipeline:
    """scikit-learn random forest of fully grown trees."""
    cls = RandomForestClassifier if task == "classification" else RandomForestRegressor
    return _pipeline(X, "tree", cls(n_estimators=n_estimators, min_samples_leaf=2, n_jobs=-1, random_state=random_state))


@TEACHERS.register("stack")
def stack_teacher(task: Task, X: Any, random_state: int) -> Pipeline:
    """A stack of a random forest and gradient boosting, combined by a linear model.

    The linear model learns from the members' out-of-fold predictions, and the folds are drawn from shuffled rows:
    scikit-learn's ``cv=3`` cuts the rows in file order, and a table stored sorted by a column (hpc_data is sorted
    by protocol) then holds out whole groups the members never saw - the combiner learned from useless predictions
    (test AUC 0.68 against 0.96 with shuffled folds on hpc_data, results/tabular_boosting_gain.md).
    """
    if task == "classification":
        members = [("forest", RandomForestClassifier(n_estimators=200, min_samples_leaf=2, n_jobs=-1, random_state=random_state)),
                   ("boosting", HistGradientBoostingClassifier(max_iter=200, random_state=random_state))]
        folds = StratifiedKFold(3, shuffle=True, random_state=random_state)
        model = StackingClassifier(members, final_estimator=LogisticRegression(max_iter=1000), cv=folds)
    else:
        members = [("forest", RandomForestRegressor(n_estimators=200, min_samples_leaf=2, n_jobs=-1, random_state=random_state)),
                   ("boosting", HistGradientBoostingRegressor(max_iter=200, random_state=random_state))]
        folds = KFold(3, shuffle=True, random_state=random_state)
        model = StackingRegressor(members, final_estimator=RidgeCV(), cv=folds)
    return _pipeline(X, "tree", model)


def is_fitted(estimator: Any) -> bool:
    """True for fitted scikit-learn-style estimators, and for predictors with no ``fit`` at all."""
    if not hasattr(estimator, "fit"):
        return True
    try:
        check_is_fitted(estimator)
    except NotFittedError:
        return False
    except TypeError:  # not a scikit-learn estimator: trust that it was trained
        return True
    return True


def resolve_teacher(teacher: Any, task: Task, X: Any, y: np.ndarray, random_state: int,
                    validation: tuple[Any, Any] | None = None) -> Any:
    """A fitted teacher: ``teacher`` itself if fitted, else a clone fit on (X, y); a name builds and fits one.

    ``validation`` (X_val, y_val): rows the teacher does not train on; a LightGBM teacher stops adding trees when
    its validation loss has not improved for ``EARLY_STOPPING_ROUNDS`` rounds (``best_iteration_`` trees are used).
    """
    method = "predict_proba" if task == "classification" else "predict"
    if teacher is None:
        teacher = "gradient_boosting"
    if isinstance(teacher, str) and teacher == "auto":  # kdistill.tabular.teacher_choice.AUTO (it imports this module)
        from kdistill.tabular.teacher_choice import choose_teacher

        return choose_teacher(task, X, y, random_state, validation)[0]
    if isinstance(teacher, str):
        return fit_teacher(TEACHERS.build(teacher, task=task, X=X, random_state=random_state), X, y, validation)
    if not hasattr(teacher, method):
        raise ConfigError(
            f"teacher {type(teacher).__name__} has no {method}(); {task} distillation needs it "
            f"(for classification use a probabilistic classifier, e.g. a forest or gradient boosting)"
        )
    if is_fitted(teacher):
        return teacher
    return fit_teacher(clone(teacher), X, y, validation)


EARLY_STOPPING_ROUNDS = 50


def fit_teacher(model: Any, X: Any, y: np.ndarray, validation: tuple[Any, Any] | None) -> Any:
    """``model.fit(X, y)``; a bare LightGBM model also gets the validation rows for early stopping."""
    if validation is not None and _is_lightgbm(model) and len(validation[1]) > 0:
        import lightgbm

        X_val, y_val = validation
        # LightGBM 4.7 deprecates eval_set for eval_X / eval_y, but its classifier label-encodes only eval_set's
        # labels (string labels in eval_y fail): keep eval_set and silence the notice.
        with warnings.catch_warnings():
            warnings.filterwarnings("ignore", message=".*eval_set.*deprecated")
            return model.fit(X, y, eval_set=[(X_val, y_val)],
                             callbacks=[lightgbm.early_stopping(EARLY_STOPPING_ROUNDS, verbose=False)])
    return model.fit(X, y)


def unwrap_model(teacher: Any) -> Any:
    """The model inside a named teacher's Pipeline (the teacher itself when it is not a Pipeline)."""
    return teacher.steps[-1][1] if isinstance(teacher, Pipeline) else teacher


def _is_lightgbm(model: Any) -> bool:
    return any(cls.__module__.startswith("lightgbm") for cls in type(model).__mro__)

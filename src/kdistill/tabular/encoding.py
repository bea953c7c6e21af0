"""Turn a raw table (numbers, pandas categoricals, strings, NaN) into the numeric matrix a student model reads.

Each student family gets the encoding it handles best, and the encoder travels with the student in one Pipeline:

- ``"codes"`` (tree students): numbers as they are, each category one target-ordered code, NaN and unseen categories
  as NaN - a numpy lookup, fast to predict (:mod:`kdistill.tabular.codes`);
- ``"tree"`` (forest / stack teachers): numbers as they are (scikit-learn trees route NaN natively), categories
  one-hot;
- ``"ordinal"``: numbers as they are, categories as ordinal codes flagged for native categorical splits
  (HistGradientBoosting, LightGBM);
- ``"dense"``: median imputation + a missing indicator + standardisation, categories one-hot (linear models, MLPs).

Columns are selected by position, so the same encoder works on DataFrames and 2-D arrays.
"""

from __future__ import annotations

from typing import Literal

import numpy as np
import pandas as pd
from sklearn.compose import ColumnTransformer
from sklearn.impute import SimpleImputer
from sklearn.pipeline import make_pipeline
from sklearn.preprocessing import OneHotEncoder, OrdinalEncoder, StandardScaler

from kdistill.augment.tabular.columns import is_categorical
from kdistill.tabular.codes import CategoryCodeEncoder

Encoding = Literal["codes", "tree", "ordinal", "dense"]
MAX_ONE_HOT = 16  # rarer categories share one "infrequent" column: bounded width, readable trees


def categorical_positions(X) -> list[int]:
    """Positions of categorical columns (categories, strings, objects, booleans); arrays are all numeric."""
    if not isinstance(X, pd.DataFrame):
        return []
    return [i for i, name in enumerate(X.columns) if is_categorical(X[name])]


def one_hot() -> OneHotEncoder:
    return OneHotEncoder(handle_unknown="infrequent_if_exist", max_categories=MAX_ONE_HOT, sparse_output=False)


def make_encoder(X, encoding: Encoding) -> ColumnTransformer | CategoryCodeEncoder:
    """An unfitted encoder for ``X``'s columns; a ColumnTransformer puts categorical columns first in its output."""
    if encoding == "codes":
        return CategoryCodeEncoder()
    categorical = categorical_positions(X)
    numeric = [i for i in range(X.shape[1]) if i not in set(categorical)]
    if encoding == "tree":
        parts = [("categories", one_hot(), categorical), ("numbers", "passthrough", numeric)]
    elif encoding == "ordinal":
        ordinal = OrdinalEncoder(
            handle_unknown="use_encoded_value", unknown_value=np.nan, encoded_missing_value=np.nan
        )
        parts = [("categories", ordinal, categorical), ("numbers", "passthrough", numeric)]
    else:
        dense_numbers = make_pipeline(SimpleImputer(strategy="median", add_indicator=True), StandardScaler())
        parts = [("categories", one_hot(), categorical), ("numbers", dense_numbers, numeric)]
    parts = [part for part in parts if part[2]]
    return ColumnTransformer(parts, verbose_feature_names_out=False, sparse_threshold=0.0)


def categorical_mask(encoder: ColumnTransformer | CategoryCodeEncoder) -> np.ndarray:
    """Boolean mask over the encoder's output columns: True where the column holds unordered category codes."""
    if isinstance(encoder, CategoryCodeEncoder):  # its codes are ordered: plain numeric features
        return np.zeros(encoder.n_features_in_, dtype=bool)
    mask = []
    for name, transformer, columns in encoder.transformers_:
        if name == "remainder" or transformer == "drop":
            continue
        mask += [name == "categories" and isinstance(transformer, OrdinalEncoder)] * len(columns)
    return np.asarray(mask, dtype=bool)


def encoded_feature_names(encoder: ColumnTransformer | CategoryCodeEncoder) -> list[str]:
    return [str(name) for name in encoder.get_feature_names_out()]

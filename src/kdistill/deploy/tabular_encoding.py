"""The category handling of a tabular student, as ONNX nodes: raw columns in, the student's feature matrix out.

Inputs are one tensor per table column, shape (N, 1): categorical columns as strings (``str(value)``; a missing
value is the empty string), numeric columns as float64 (missing = NaN). Each encoder of
:mod:`kdistill.tabular.encoding` becomes the same arithmetic in the graph:

- codes (tree students): a LabelEncoder from category text to its target-ordered code; missing and unseen -> NaN;
- ordinal (boosting students): category text -> ordinal code, composed with HistGradientBoosting's own re-coding of
  categorical features, so the trees' membership splits read the codes they were grown on;
- dense (linear, MLP students): one-hot slots read off the fitted OneHotEncoder by transforming each known category
  (so infrequent and unseen categories land where scikit-learn puts them), then median imputation, missing
  indicators and standardisation of the numbers.
"""

from __future__ import annotations

from typing import Any

import numpy as np

from kdistill.deploy.graph import GraphBuilder
from kdistill.errors import ConfigError

MISSING = ""  # what a missing categorical value is fed as
UNKNOWN = "\x00kdistill-unknown"  # a value no encoder has seen, to probe where unseen categories go


def is_missing(value: Any) -> bool:
    return value is None or (isinstance(value, float) and np.isnan(value))


def missing_category(categories: Any) -> Any:
    """What a missing input is to the graph, for an encoder fitted on ``categories``.

    scikit-learn's OneHotEncoder / OrdinalEncoder keep None and NaN in a text (object) column apart, as two
    categories; the graph has one missing value. It is NaN when the encoder saw NaN in this column (or neither), and
    None when it saw only None (a text column read from Python objects).
    """
    seen = [category for category in categories if is_missing(category)]
    return None if seen and all(category is None for category in seen) else float("nan")


def missing_markers(encoder: Any) -> dict[int, Any]:
    """Column position -> the missing value (None or NaN) the graph stands for, for one-hot / ordinal text columns."""
    markers = {}
    for _, transformer, selected in getattr(encoder, "transformers_", []):
        if type(transformer).__name__ in ("OneHotEncoder", "OrdinalEncoder"):
            for position, categories in zip(positions(selected, encoder.n_features_in_), transformer.categories_):
                markers[position] = missing_category(categories)
    return markers


def input_columns(encoder: Any) -> list[tuple[str, bool]]:
    """(column name, is categorical) for each column the encoder reads, in the table's order."""
    from kdistill.tabular.codes import CategoryCodeEncoder

    count = encoder.n_features_in_
    names = [str(name) for name in getattr(encoder, "feature_names_in_", [f"x{i}" for i in range(count)])]
    if isinstance(encoder, CategoryCodeEncoder):
        categorical = set(encoder.categorical_)
    else:
        categorical = {position for name, transformer, columns in encoder.transformers_
                       if name == "categories" for position in positions(columns, count)}
    return [(name, position in categorical) for position, name in enumerate(names)]


def positions(columns: Any, count: int) -> list[int]:
    array = np.asarray(columns)
    if array.dtype == bool:
        return [int(i) for i in np.flatnonzero(array)]
    return [int(i) for i in array]


class Encoded:
    """Builds the feature matrix; ``columns[i]`` is the graph tensor of input column i."""

    def __init__(self, builder: GraphBuilder, columns: list[str]):
        self.builder, self.columns = builder, columns

    def code(self, position: int, mapping: dict[str, float]) -> str:
        """(N, 1) float64: the code of each category text, NaN for missing and unseen."""
        b = self.builder
        known = dict(mapping)
        if not known:  # LabelEncoder needs at least one key
            known = {UNKNOWN: float("nan")}
        codes = b.op("LabelEncoder", [self.columns[position]], "codes", domain="ai.onnx.ml",
                     keys_strings=list(known), values_floats=[float(value) for value in known.values()],
                     default_float=float("nan"))
        return b.op("Cast", [codes], "codes64", to=11)  # small integers: exact in float32

    def one_hot(self, position: int, slots: dict[str, int], default: int, width: int) -> str:
        """(N, width) float64 one-hot of each category text's slot; ``default`` (-1 = none) for others."""
        b = self.builder
        keys = list(slots) or [UNKNOWN]
        slot = b.op("LabelEncoder", [self.columns[position]], "slot", domain="ai.onnx.ml", keys_strings=keys,
                    values_int64s=[slots.get(key, default) for key in keys], default_int64=default)
        hot = b.op("Equal", [slot, b.constant(np.arange(width, dtype=np.int64).reshape(1, -1), "slots")])
        return b.op("Cast", [hot], "onehot", to=11)

    def concat(self, parts: list[str]) -> str:
        return parts[0] if len(parts) == 1 else self.builder.op("Concat", parts, "features", axis=1)


def encode(builder: GraphBuilder, encoder: Any, inner_model: Any, columns: list[str]) -> str:
    """(N, d) float64 features the student's inner model reads."""
    from kdistill.tabular.codes import CategoryCodeEncoder

    encoded = Encoded(builder, columns)
    if isinstance(encoder, CategoryCodeEncoder):
        parts = [encoded.code(i, {str(c): code for code, c in enumerate(encoder.categories_[i])})
                 if i in encoder.categories_ else columns[i] for i in range(encoder.n_features_in_)]
        return encoded.concat(parts)
    # in the encoder's output order: (position, code mapping or None) per single column, or a block's tensor name
    items: list[Any] = []
    for name, transformer, selected in encoder.transformers_:
        chosen = positions(selected, encoder.n_features_in_)
        if transformer == "drop" or not chosen:
            continue
        kind = type(transformer).__name__
        # a fitted ColumnTransformer holds "passthrough" as a FunctionTransformer without a function
        if transformer == "passthrough" or (kind == "FunctionTransformer" and transformer.func is None):
            items += [(position, None) for position in chosen]
        elif kind == "OrdinalEncoder":
            items += [(position, ordinal_mapping(categories)) for position, categories
                      in zip(chosen, transformer.categories_)]
        elif kind == "OneHotEncoder":
            items += one_hot_parts(encoded, transformer, chosen)
        elif kind == "Pipeline":
            items.append(dense_numbers(encoded, transformer, chosen))
        else:
            raise ConfigError(f"ONNX export does not know the encoder part {name!r} ({kind}); export works for "
                              "kdistill's own encodings (codes, ordinal, dense)")
    if getattr(inner_model, "_preprocessor", None) is not None:
        if any(isinstance(item, str) for item in items):
            raise ConfigError("ONNX export supports categorical HistGradientBoosting students on ordinal codes only")
        items = recoded_for_boosting(items, inner_model)
    parts = [item if isinstance(item, str) else columns[item[0]] if item[1] is None else encoded.code(*item)
             for item in items]
    return encoded.concat(parts)


def ordinal_mapping(categories: Any) -> dict[str, float]:
    mapping = {str(category): float(code) for code, category in enumerate(categories) if not is_missing(category)}
    if missing_category(categories) is None:  # None is a category of its own here (NaN is coded NaN anyway)
        mapping[MISSING] = float(next(code for code, category in enumerate(categories) if category is None))
    return mapping


def recoded_for_boosting(features: list[tuple[int, dict[str, float] | None]],
                         model: Any) -> list[tuple[int, dict[str, float] | None]]:
    """HistGradientBoosting with categorical features re-codes them itself (an inner OrdinalEncoder over the codes it
    was given, categorical columns first): compose both codings so the graph feeds the trees their own codes."""
    preprocessor = getattr(model, "_preprocessor", None)
    if preprocessor is None:
        return features
    mask = np.asarray(model.is_categorical_, dtype=bool)
    inner = preprocessor.named_transformers_["encoder"]
    recoded = []
    for slot, categories in zip(np.flatnonzero(mask), inner.categories_):
        position, mapping = features[slot]
        inner_code = {float(value): float(code) for code, value in enumerate(categories) if not is_missing(value)}
        if mapping is None:  # a numeric column HistGradientBoosting treats as categorical: not kdistill's encodings
            raise ConfigError("ONNX export supports categorical features coded by kdistill's ordinal encoder only")
        recoded.append((position, {key: inner_code.get(value, float("nan")) for key, value in mapping.items()}))
    return recoded + [features[slot] for slot in np.flatnonzero(~mask)]


def one_hot_parts(encoded: Encoded, encoder: Any, chosen: list[int]) -> list[str]:
    """One (N, width) block per column, its slots found by transforming each known category through ``encoder``."""
    import pandas as pd

    widths = [int(width) for width in encoder._n_features_outs]  # output columns per input column
    parts = []
    for index, (position, categories) in enumerate(zip(chosen, encoder.categories_)):
        probes = [*categories, UNKNOWN]
        table = pd.DataFrame({i: pd.Series([other[0]] * len(probes), dtype=object)
                              for i, other in enumerate(encoder.categories_)})
        table[index] = pd.Series(probes, dtype=object)
        if hasattr(encoder, "feature_names_in_"):
            table.columns = list(encoder.feature_names_in_)
        else:
            table = table.to_numpy()
        start = sum(widths[:index])
        block = np.asarray(encoder.transform(table))[:, start : start + widths[index]]
        slot_of = [int(row.argmax()) if row.sum() > 0 else -1 for row in block]
        slots = {str(probe): slot for probe, slot in zip(probes[:-1], slot_of) if not is_missing(probe)}
        marker = missing_category(categories)
        for probe, slot in zip(probes[:-1], slot_of):
            if is_missing(probe) and (probe is None) == (marker is None):
                slots[MISSING] = slot
        parts.append(encoded.one_hot(position, slots, slot_of[-1], widths[index]))
    return parts


def dense_numbers(encoded: Encoded, pipeline: Any, chosen: list[int]) -> str:
    """SimpleImputer(median, add_indicator) -> StandardScaler over the numeric columns ``chosen``."""
    b = encoded.builder
    steps = [type(step).__name__ for _, step in pipeline.steps]
    if steps != ["SimpleImputer", "StandardScaler"]:
        raise ConfigError(f"ONNX export does not know the numeric pipeline {' -> '.join(steps)}")
    imputer, scaler = pipeline.steps[0][1], pipeline.steps[1][1]
    statistics = np.asarray(imputer.statistics_, dtype=np.float64)
    keep_empty = getattr(imputer, "keep_empty_features", False)
    values, indicators = [], []
    for slot, position in enumerate(chosen):
        column = encoded.columns[position]
        if not np.isnan(statistics[slot]) or keep_empty:  # an all-missing training column is dropped
            fill = 0.0 if np.isnan(statistics[slot]) else statistics[slot]
            values.append(b.op("Where", [b.op("IsNaN", [column]), b.constant(np.float64(fill)), column], "imputed"))
    if imputer.indicator_ is not None:
        for slot in imputer.indicator_.features_:
            indicators.append(b.op("Cast", [b.op("IsNaN", [encoded.columns[chosen[slot]]])], "missing", to=11))
    block = encoded.concat(values + indicators)
    mean = np.zeros(len(values) + len(indicators)) if scaler.mean_ is None else scaler.mean_
    scale = np.ones_like(mean) if scaler.scale_ is None else scaler.scale_
    centred = b.op("Sub", [block, b.constant(np.asarray(mean, dtype=np.float64).reshape(1, -1), "mean")])
    return b.op("Div", [centred, b.constant(np.asarray(scale, dtype=np.float64).reshape(1, -1), "scale")])

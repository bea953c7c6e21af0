"""A distilled tabular student (``DistilledClassifier`` / ``DistilledRegressor``) as one ONNX graph.

    inputs   one per table column, shape (N, 1): text for categorical columns (missing = ""), float64 for numbers
    outputs  classifier: "label" (N,) in the estimator's classes, "probabilities" (N, C) float64 in classes_ order
             regressor: "prediction" (N,) float64

The graph is the estimator's whole ``predict_proba``: category handling (:mod:`kdistill.deploy.tabular_encoding`),
the inner model (tree, HistGradientBoosting, logistic / ridge regression or the MLP), the re-normalisation of tree
outputs and the un-tempering ``softmax(T * log q)``, then the class label. :func:`check_tabular` runs it on real
rows against ``predict_proba`` / ``predict``.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np

from kdistill.atomic import atomic_path
from kdistill.deploy.graph import GraphBuilder
from kdistill.deploy.runtime import require, session
from kdistill.deploy.tabular_encoding import MISSING, encode, input_columns
from kdistill.deploy.trees import boosting_trees, sklearn_tree, tree_ensemble_node
from kdistill.errors import CheckpointError, ConfigError

DOUBLE, FLOAT, STRING, INT64, BOOL = 11, 1, 8, 7, 9  # onnx.TensorProto element types
EPS = 1e-7  # == kdistill.tabular.soft_labels.EPS: probabilities are clipped there before logs
PROBABILITY_TOLERANCE = 1e-5


def export_tabular(model: Any, path: str | Path) -> Path:
    """Write the fitted estimator ``model`` as ONNX to ``path``; return ``path``."""
    require("onnx", "onnxruntime")
    import onnx

    from kdistill.deploy.network import set_metadata

    if not hasattr(model, "student_") or not hasattr(model, "encoder_"):
        raise ConfigError(f"{type(model).__name__} is not a fitted kdistill tabular student; fit a "
                          "DistilledClassifier or DistilledRegressor first")
    b = GraphBuilder()
    columns = input_columns(model.encoder_)
    names = [b.add_input(name, STRING if categorical else DOUBLE, ["N", 1]) for name, categorical in columns]
    features = encode(b, model.encoder_, model.student_.model_ if hasattr(model.student_, "model_") else None, names)
    output = student_output(b, model.student_, features)
    metadata = {"columns": [{"name": name, "kind": "category" if categorical else "number"}
                            for name, categorical in columns],
                "missing": f"categorical: {MISSING!r} (empty text); numeric: NaN", "producer": "kdistill",
                "student": getattr(model, "student_family_", model.student)}
    if hasattr(model, "classes_"):
        # The kept student may be the direct one (trained at T = 1): its own output temperature, not the setting.
        probabilities = untemper(b, output, getattr(model, "output_temperature_", model.temperature))
        index = b.op("ArgMax", [probabilities], "class_index", axis=1, keepdims=0)
        classes, elem_type = label_constant(model.classes_)
        label = b.op("Gather", [b.constant(classes, "classes"), index], "label", axis=0)
        b.add_output(label, "label", elem_type, ["N"])  # outputs in skl2onnx's order: label, probabilities
        b.add_output(probabilities, "probabilities", DOUBLE, ["N", len(model.classes_)])
        metadata["class_names"] = [str(name) for name in model.classes_]
    else:
        b.add_output(output, "prediction", DOUBLE, ["N"])
    graph = b.model("kdistill_tabular_student")
    set_metadata(graph, metadata)
    path = Path(path)
    with atomic_path(path) as temporary:
        onnx.save(graph, str(temporary))
    return path


def label_constant(classes: Any) -> tuple[np.ndarray, int]:
    array = np.asarray(classes)
    if array.dtype.kind == "b":
        return array.astype(bool), BOOL
    if array.dtype.kind in "iu":
        return array.astype(np.int64), INT64
    if array.dtype.kind == "f":
        return array.astype(np.float64), DOUBLE
    return np.asarray([str(label) for label in array], dtype=object), STRING


def student_output(b: GraphBuilder, student: Any, features: str) -> str:
    """Classification: (N, C) tempered class probabilities q_T; regression: (N,) predictions."""
    name = type(student).__name__
    task = student.task
    if name == "TreeStudent":
        # DecisionTree rounds its input to float32 before comparing with float64 thresholds
        rounded = b.op("Cast", [b.op("Cast", [features], "x32", to=FLOAT)], "x_rounded", to=DOUBLE)
        n_outputs = int(student.model_.n_outputs_)
        raw = b.name("tree")
        b.add_node(tree_ensemble_node([sklearn_tree(student.model_)], n_outputs, rounded, raw))
        if task == "regression":
            return flat(b, raw)
        clipped = b.op("Max", [raw, b.constant(np.float64(0.0))], "clipped")
        total = b.op("ReduceSum", [clipped, b.constant(np.array([1], dtype=np.int64))], "total", keepdims=1)
        return b.op("Div", [clipped, b.op("Max", [total, b.constant(np.float64(1e-12))])], "q")
    if name == "BoostingStudent":
        if getattr(student, "logit_", False):
            raise ConfigError("ONNX export does not support boosting students fitted with target='logit'; "
                              "use the default target='probability'")
        model = student.model_
        raw = b.name("trees")
        n_outputs = int(model.n_trees_per_iteration_)
        b.add_node(tree_ensemble_node(boosting_trees(model), n_outputs, features, raw))
        raw = b.op("Add", [raw, b.constant(np.asarray(model._baseline_prediction, dtype=np.float64).reshape(1, -1))])
        if task == "regression":
            if type(model._loss).__name__ != "HalfSquaredError":
                raise ConfigError("ONNX export supports boosting regressors with the squared error loss only")
            return flat(b, raw)
        return place_classes(b, binary_or_softmax(b, raw, n_outputs == 1), model.classes_, student.n_classes_)
    if name == "LinearStudent":
        model = student.model_
        coef = np.asarray(model.coef_, dtype=np.float64)
        scores = b.op("Add", [b.op("MatMul", [features, b.constant(coef.reshape(-1, coef.shape[-1]).T, "coef")]),
                              b.constant(np.asarray(model.intercept_, dtype=np.float64).reshape(1, -1), "intercept")])
        if task == "regression":
            return flat(b, scores)
        return place_classes(b, binary_or_softmax(b, scores, coef.shape[0] == 1), model.classes_, student.n_classes_)
    if name == "MLPStudent":
        hidden = b.op("Cast", [features], "x32", to=FLOAT)
        for index, (weight, bias) in enumerate(zip(student.weights_, student.biases_)):
            hidden = b.op("Add", [b.op("MatMul", [hidden, b.constant(np.asarray(weight, np.float32), "w")]),
                                  b.constant(np.asarray(bias, np.float32).reshape(1, -1), "b")])
            if index < len(student.weights_) - 1:
                hidden = b.op("Relu", [hidden])
        out = b.op("Cast", [hidden], "out64", to=DOUBLE)
        if task == "regression":
            scaled = b.op("Mul", [out, b.constant(np.float64(student.target_scale_))])
            return flat(b, b.op("Add", [scaled, b.constant(np.float64(student.target_mean_))]))
        return b.op("Softmax", [out], "q", axis=1)
    raise ConfigError(f"ONNX export does not know the {name} student; export works for tree, boosting, linear and "
                      "mlp students")


def flat(b: GraphBuilder, column: str) -> str:
    return b.op("Reshape", [column, b.constant(np.array([-1], dtype=np.int64))], "prediction")


def binary_or_softmax(b: GraphBuilder, scores: str, binary: bool) -> str:
    """Scores -> class probabilities as scikit-learn's predict_proba: (N, 1) -> [1 - sigmoid, sigmoid]; else softmax."""
    if not binary:
        return b.op("Softmax", [scores], "proba", axis=1)
    positive = b.op("Sigmoid", [scores])
    return b.op("Concat", [b.op("Sub", [b.constant(np.float64(1.0)), positive]), positive], "proba", axis=1)


def place_classes(b: GraphBuilder, probabilities: str, present: Any, n_classes: int) -> str:
    """Lay the inner model's columns (its classes_ are class indices, maybe not all) over all n_classes columns."""
    present = np.asarray(present).astype(int)
    if np.array_equal(present, np.arange(n_classes)):
        return probabilities
    placement = np.zeros((len(present), n_classes))
    placement[np.arange(len(present)), present] = 1.0
    return b.op("MatMul", [probabilities, b.constant(placement, "placement")], "q")


def untemper(b: GraphBuilder, tempered: str, temperature: float) -> str:
    """softmax(T * log clip(q_T, EPS, 1)), as :func:`kdistill.tabular.soft_labels.untemper`."""
    clipped = b.op("Clip", [tempered, b.constant(np.float64(EPS)), b.constant(np.float64(1.0))])
    logits = b.op("Div", [b.op("Log", [clipped]), b.constant(np.float64(1.0 / temperature))], "logits")
    return b.op("Softmax", [logits], "probabilities", axis=1)


def tabular_feeds(frame: Any, columns: list[dict[str, str]]) -> dict[str, np.ndarray]:
    """The graph's inputs from a DataFrame: (N, 1) text per categorical column (missing -> ""), float64 per number."""
    import pandas as pd

    feeds = {}
    for column in columns:
        if column["name"] not in frame.columns:
            raise ConfigError(f"the table has no column {column['name']!r}, which the exported student reads")
        values = frame[column["name"]]
        if column["kind"] == "category":
            text = [MISSING if pd.isna(value) else str(value) for value in values.astype(object)]
            feeds[column["name"]] = np.asarray(text, dtype=object).reshape(-1, 1)
        else:
            feeds[column["name"]] = values.to_numpy(dtype=np.float64, na_value=np.nan).reshape(-1, 1)
    return feeds


def columns_of(path: str | Path) -> list[dict[str, str]]:
    import json

    runner = session(path)
    return json.loads(runner.get_modelmeta().custom_metadata_map["columns"])


def check_tabular(model: Any, path: str | Path, X: Any) -> dict[str, Any]:
    """The ONNX file against the estimator on rows ``X``: max |difference| (probabilities or predictions), and for
    classifiers agreement of the labels. A difference above PROBABILITY_TOLERANCE is an error."""
    import json

    runner = session(path)
    columns = json.loads(runner.get_modelmeta().custom_metadata_map["columns"])
    import pandas as pd

    if not isinstance(X, pd.DataFrame):  # an array: its columns in the order the student was fitted on
        X = pd.DataFrame(np.asarray(X), columns=[column["name"] for column in columns])
    X = with_missing_markers(X, model.encoder_)  # the graph has one missing value: compare on rows that mean the same
    feeds = tabular_feeds(X, columns)
    if not hasattr(model, "feature_names_in_"):  # fitted on an array: give it the array it knows
        X = X.to_numpy(dtype=np.float64)
    if hasattr(model, "classes_"):
        labels, probabilities = runner.run(["label", "probabilities"], feeds)
        expected = model.predict_proba(X)
        agreement = float(np.mean(np.asarray(labels).astype(str) == np.asarray(model.predict(X)).astype(str)))
        check = {"rows": len(X), "max_abs_diff": float(np.abs(probabilities - expected).max()),
                 "label_agreement": agreement}
    else:
        (prediction,) = runner.run(["prediction"], feeds)
        expected = model.predict(X)
        scale = max(1.0, float(np.abs(expected).max()))
        check = {"rows": len(X), "max_abs_diff": float(np.abs(prediction - expected).max()), "scale": scale}
    limit = PROBABILITY_TOLERANCE * check.get("scale", 1.0)
    if check["max_abs_diff"] > limit:
        raise CheckpointError(f"{path} differs from the estimator by {check['max_abs_diff']:.3g} on {len(X)} rows "
                              f"(allowed {limit:.3g}); report it as a kdistill bug")
    return check


def with_missing_markers(frame: Any, encoder: Any) -> Any:
    """``frame`` with each missing value of a one-hot / ordinal text column written as the one missing value the graph
    stands for (:func:`kdistill.deploy.tabular_encoding.missing_category`), so the estimator reads the same rows."""
    import pandas as pd

    from kdistill.deploy.tabular_encoding import missing_markers

    if not isinstance(frame, pd.DataFrame):
        return frame
    frame = frame.copy()
    for position, marker in missing_markers(encoder).items():
        column = frame.iloc[:, position]
        if column.dtype == object:
            frame[frame.columns[position]] = column.where(column.notna(), marker)
    return frame

"""Decision trees and histogram gradient boosting as one ONNX ``TreeEnsemble`` node (ai.onnx.ml opset 5).

Built from the fitted trees' arrays rather than through skl2onnx: skl2onnx 1.20 cannot convert scikit-learn 1.9's
HistGradientBoosting (it writes a boolean where ONNX wants an int) nor its categorical splits, and it compares in
float32 against rounded thresholds. Here every split keeps scikit-learn's semantics exactly:

- thresholds stay float64 and the node compares ``x <= threshold`` in float64 (a DecisionTree first rounds its input
  to float32, which :func:`tree_features` reproduces with two Casts);
- NaN follows the side the tree learned (``missing_go_to_left``);
- a categorical split of HistGradientBoosting is a set-membership node (BRANCH_MEMBER) on its category codes.

Opset-5 leaves carry one target each, so a multi-output tree (soft class targets) is emitted once per output.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

import numpy as np

BRANCH_LEQ, BRANCH_MEMBER = 0, 6  # TreeEnsemble nodes_modes


@dataclass
class Tree:
    """One tree as arrays over its nodes (root = 0); ``values`` (n_nodes, n_outputs) are read at leaves."""

    feature: np.ndarray
    threshold: np.ndarray
    left: np.ndarray
    right: np.ndarray
    missing_left: np.ndarray
    is_leaf: np.ndarray
    values: np.ndarray
    members: dict[int, list[float]] = field(default_factory=dict)  # node -> category codes that go left
    target: int = 0  # the ensemble output a single-output tree adds to


def sklearn_tree(estimator: Any) -> Tree:
    """A fitted DecisionTreeRegressor/Classifier's ``tree_``; ``values`` (n_nodes, n_outputs)."""
    tree = estimator.tree_
    is_leaf = tree.children_left < 0
    missing = getattr(tree, "missing_go_to_left", None)
    missing_left = np.zeros(tree.node_count, dtype=bool) if missing is None else np.asarray(missing, dtype=bool)
    values = tree.value.reshape(tree.node_count, -1)
    return Tree(tree.feature.astype(np.int64), tree.threshold.astype(np.float64), tree.children_left,
                tree.children_right, missing_left, is_leaf, values)


def boosting_trees(model: Any) -> list[Tree]:
    """Every tree of a fitted HistGradientBoosting model, each adding to output k of its iteration."""
    trees = []
    for iteration in model._predictors:
        for k, predictor in enumerate(iteration):
            nodes = predictor.nodes
            members = {}
            for index in np.flatnonzero(nodes["is_categorical"] & ~nodes["is_leaf"].astype(bool)):
                bitset = predictor.raw_left_cat_bitsets[nodes["bitset_idx"][index]]
                members[int(index)] = [float(code) for code in range(32 * len(bitset))
                                       if bitset[code // 32] >> np.uint32(code % 32) & 1]
            trees.append(Tree(nodes["feature_idx"].astype(np.int64), nodes["num_threshold"].astype(np.float64),
                              nodes["left"].astype(np.int64), nodes["right"].astype(np.int64),
                              nodes["missing_go_to_left"].astype(bool), nodes["is_leaf"].astype(bool),
                              nodes["value"].astype(np.float64).reshape(-1, 1), members, target=k))
    return trees


def single_output(trees: list[Tree]) -> list[Tree]:
    """Split multi-output trees into one tree per output (opset-5 leaves hold one target)."""
    out = []
    for tree in trees:
        for output in range(tree.values.shape[1]):
            out.append(Tree(tree.feature, tree.threshold, tree.left, tree.right, tree.missing_left, tree.is_leaf,
                            tree.values[:, output : output + 1], tree.members, target=tree.target + output))
    return out


def tree_ensemble_node(trees: list[Tree], n_targets: int, input_name: str, output_name: str) -> Any:
    """One ``TreeEnsemble`` node: float64 (N, d) -> (N, n_targets), the sum of all trees' leaf values."""
    from onnx import helper, numpy_helper

    modes, features, splits, true_ids, true_leaf, false_ids, false_leaf, missing = ([] for _ in range(8))
    membership: list[float] = []
    leaf_targets: list[int] = []
    leaf_weights: list[float] = []
    roots = []
    for tree in single_output(trees):
        internal = np.flatnonzero(~tree.is_leaf)
        if internal.size == 0:  # a stump with no split: one node sending everything to the one leaf
            roots.append(len(modes))
            leaf = len(leaf_weights)
            leaf_targets.append(tree.target)
            leaf_weights.append(float(tree.values[0, 0]))
            modes.append(BRANCH_LEQ), features.append(0), splits.append(0.0), missing.append(0)
            true_ids.append(leaf), true_leaf.append(1), false_ids.append(leaf), false_leaf.append(1)
            continue
        node_index = {int(node): len(modes) + position for position, node in enumerate(internal)}
        leaves = np.flatnonzero(tree.is_leaf)
        leaf_index = {int(node): len(leaf_weights) + position for position, node in enumerate(leaves)}
        leaf_targets += [tree.target] * len(leaves)
        leaf_weights += [float(tree.values[node, 0]) for node in leaves]
        roots.append(node_index[0])
        for node in internal:
            node = int(node)
            categorical = node in tree.members
            modes.append(BRANCH_MEMBER if categorical else BRANCH_LEQ)
            features.append(int(tree.feature[node]))
            splits.append(float("nan") if categorical else float(tree.threshold[node]))
            if categorical:
                membership += tree.members[node] + [float("nan")]  # NaN ends each member node's set
            missing.append(int(tree.missing_left[node]))
            for child, ids, is_leaf in ((int(tree.left[node]), true_ids, true_leaf),
                                        (int(tree.right[node]), false_ids, false_leaf)):
                leaf = bool(tree.is_leaf[child])
                ids.append(leaf_index[child] if leaf else node_index[child])
                is_leaf.append(int(leaf))
    attributes = dict(
        aggregate_function=1, post_transform=0, n_targets=n_targets, tree_roots=roots,  # SUM, NONE
        nodes_modes=numpy_helper.from_array(np.asarray(modes, dtype=np.uint8)), nodes_featureids=features,
        nodes_splits=numpy_helper.from_array(np.asarray(splits, dtype=np.float64)),
        nodes_truenodeids=true_ids, nodes_trueleafs=true_leaf, nodes_falsenodeids=false_ids,
        nodes_falseleafs=false_leaf, nodes_missing_value_tracks_true=missing, leaf_targetids=leaf_targets,
        leaf_weights=numpy_helper.from_array(np.asarray(leaf_weights, dtype=np.float64)),
    )
    if membership:
        attributes["membership_values"] = numpy_helper.from_array(np.asarray(membership, dtype=np.float64))
    return helper.make_node("TreeEnsemble", [input_name], [output_name], domain="ai.onnx.ml", **attributes)

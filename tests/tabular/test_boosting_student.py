"""The boosting student stops on real validation rows, so a large round budget costs only the rounds it uses."""

import numpy as np

from kdistill.tabular.students import STOP_PATIENCE, build_student


def noisy_rows(n_rows, seed):
    rng = np.random.default_rng(seed)
    X = rng.normal(size=(n_rows, 3))
    return X, X[:, 0] + rng.normal(0, 1.0, n_rows)  # mostly noise: boosting overfits within a few dozen rounds


def test_boosting_stops_on_the_validation_rows_and_keeps_the_best_prefix():
    X, y = noisy_rows(400, 0)
    X_val, y_val = noisy_rows(200, 1)
    student = build_student("boosting", "regression", random_state=0, max_iter=1000, max_depth=None,
                            max_leaf_nodes=31).fit(X, y, validation=(X_val, y_val))
    trained = len(student.model_.validation_score_) - 1  # one score per round, plus the start
    assert 0 < trained < 1000
    assert student.n_rounds_ <= trained and trained - student.n_rounds_ <= STOP_PATIENCE + 1


def test_soft_class_targets_stop_on_the_validation_labels():
    X, y = noisy_rows(400, 0)
    X_val, y_val = noisy_rows(200, 1)
    soft = np.column_stack([1 / (1 + np.exp(y)), 1 / (1 + np.exp(-y))])  # (n, 2) probabilities
    hard_val = np.eye(2)[(y_val > 0).astype(int)]
    student = build_student("boosting", "classification", random_state=0, max_iter=1000, max_depth=None,
                            max_leaf_nodes=31).fit(X, soft, validation=(X_val, hard_val))
    assert 0 < len(student.model_.validation_score_) - 1 < 1000
    assert student.predict_soft(X_val).shape == (200, 2)

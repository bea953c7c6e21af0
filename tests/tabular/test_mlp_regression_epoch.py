"""The regression MLP student keeps the epoch with the lowest squared error on the real validation rows."""

import numpy as np

from kdistill.tabular.mlp import MLPStudent


def test_regression_mlp_keeps_its_best_validation_epoch():
    rng = np.random.default_rng(0)
    X = rng.normal(size=(160, 5)).astype(np.float32)
    noisy = X[:, 0] + rng.normal(0, 2.0, 160)  # a wide net memorises the noise: later epochs get worse on clean rows
    student = MLPStudent("regression", hidden=(256, 256), epochs=20, lr=1e-2, batch_size=16, weight_decay=0.0,
                         random_state=0)
    student.fit(X[:80], noisy[:80], validation=(X[80:], X[80:, 0]))
    errors = [record["val_mse"] for record in student.history_]
    assert len(errors) == 20
    assert student.best_epoch_ == int(np.argmin(errors)) + 1 < 20
    kept = float(np.mean((student.predict_soft(X[80:]) - X[80:, 0]) ** 2))
    np.testing.assert_allclose(kept, min(errors), rtol=1e-5)
    assert kept < 0.5 * errors[-1]  # the last epoch (what was kept before) is far worse


def test_regression_mlp_without_validation_rows_keeps_the_last_epoch():
    rng = np.random.default_rng(1)
    X = rng.normal(size=(200, 3)).astype(np.float32)
    student = MLPStudent("regression", hidden=(8,), epochs=3, random_state=0).fit(X, X[:, 0] * 2.0)
    assert not hasattr(student, "best_epoch_")
    assert all("val_mse" not in record for record in student.history_)


def test_mlp_student_epochs_are_not_logged_at_info(caplog):
    import logging

    caplog.set_level(logging.INFO, logger="kdistill")
    rng = np.random.default_rng(2)
    X = rng.normal(size=(100, 3)).astype(np.float32)
    MLPStudent("regression", hidden=(8,), epochs=3, random_state=0).fit(X, X[:, 0])
    # a budget search trains every MLP candidate twice: dozens of epoch lines would bury the fit's own log
    assert not [record for record in caplog.records if "mlp student epoch" in record.getMessage()]

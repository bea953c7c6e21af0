"""A small MLP student trained through kdistill's core loop (:func:`kdistill.training.train`).

Classification: the student's logits u match the soft targets p_T (tempered, label-mixed teacher probabilities)
with the Hinton loss at temperature 1, ``KL(p_T ‖ softmax(u))`` (:func:`kdistill.losses.hinton_kd_loss` with the
targets passed as logits ``log p_T``). ``predict_soft`` returns softmax(u), a tempered distribution; the estimator
un-tempers it with softmax(T · log q) = softmax(T · u), so the final logits are z = T · u - exactly a student trained
with Hinton's T²·KL(σ(z_t/T) ‖ σ(z/T)), whose T² factor only rescales the step size.
Regression: mean squared error on standardised teacher predictions.

The fitted weights are kept as numpy arrays and prediction is plain numpy, so the student saves with skops (no
pickled torch objects) and predicts without torch's per-call overhead.
"""

from __future__ import annotations

import logging
from typing import Any

import numpy as np
import torch
from torch import nn

from kdistill.errors import ConfigError
from kdistill.losses import hinton_kd_loss
from kdistill.tabular.students import STUDENTS, SoftStudent, Task


class SoftTargetStrategy(nn.Module):
    """Step contract for tabular students: ``{"loss", "output", <term>}`` from a batch with ``"targets"``."""

    def __init__(self, task: Task):
        super().__init__()
        self.task = task

    def forward(self, batch: dict[str, torch.Tensor], student: nn.Module) -> dict[str, torch.Tensor]:
        output = student(batch["inputs"])  # (B, C) logits or (B, 1) standardised prediction
        if self.task == "regression":
            mse = (output.squeeze(-1) - batch["targets"]).pow(2).mean()
            return {"loss": mse, "output": output, "mse": mse}
        target_logits = torch.log(batch["targets"].clamp_min(1e-7))  # (B, C): softmax(log p) = p
        terms = hinton_kd_loss(output, target_logits, None, temperature=1.0, alpha=0.0, beta=1.0)
        return {**terms, "output": output}


class ShuffledBatches:
    """Re-iterable mini-batches of (inputs, targets); the order depends only on (seed, epoch), for exact resume."""

    def __init__(self, inputs: torch.Tensor, targets: torch.Tensor, batch_size: int, seed: int, task: Task):
        self.inputs, self.targets, self.batch_size, self.seed, self.task = inputs, targets, batch_size, seed, task
        self.epoch = 0

    def set_epoch(self, epoch: int) -> None:
        self.epoch = epoch

    def __len__(self) -> int:
        return (len(self.inputs) + self.batch_size - 1) // self.batch_size

    def __iter__(self):
        generator = torch.Generator().manual_seed(self.seed * 10_007 + self.epoch)
        order = torch.randperm(len(self.inputs), generator=generator)
        for start in range(0, len(order), self.batch_size):
            rows = order[start : start + self.batch_size]
            batch = {"inputs": self.inputs[rows], "targets": self.targets[rows]}
            if self.task == "classification":
                batch["labels"] = self.targets[rows].argmax(-1)  # (B,) for the loop's accuracy log only
            yield batch


def build_mlp(n_inputs: int, hidden: tuple[int, ...], n_outputs: int) -> nn.Sequential:
    layers: list[nn.Module] = []
    for width in hidden:
        layers += [nn.Linear(n_inputs, width), nn.ReLU()]
        n_inputs = width
    return nn.Sequential(*layers, nn.Linear(n_inputs, n_outputs))


class BestEpochOnValidation:
    """``on_epoch`` hook of a regression student: the validation rows' mean squared error after each epoch (added to
    the epoch's record as ``val_mse``) and a copy of the weights of the best epoch so far."""

    def __init__(self, model: nn.Module, X_val: np.ndarray, y_val: np.ndarray, mean: float, scale: float):
        self.model, self.mean, self.scale = model, mean, scale
        self.inputs = torch.as_tensor(np.asarray(X_val), dtype=torch.float32)
        self.values = np.asarray(y_val, dtype=np.float64).reshape(-1)
        self.best_mse, self.best_epoch, self.best_weights = float("inf"), 0, None

    def __call__(self, record: dict[str, Any]) -> None:
        with torch.no_grad():
            predicted = self.model(self.inputs)[:, 0].double().numpy() * self.scale + self.mean
        record["val_mse"] = mse = float(np.mean((predicted - self.values) ** 2))
        if mse < self.best_mse:
            self.best_mse, self.best_epoch = mse, record["epoch"]
            self.best_weights = {name: value.detach().clone() for name, value in self.model.state_dict().items()}


@STUDENTS.register("mlp")
class MLPStudent(SoftStudent):
    """Small PyTorch MLP (ReLU hidden layers) trained with kdistill's loop; predicts in numpy."""

    encoding = "dense"

    def __init__(self, task: Task = "classification", hidden: tuple[int, ...] = (64, 64), epochs: int = 20,
                 batch_size: int = 256, lr: float = 1e-3, weight_decay: float = 1e-4, random_state: Any = None):
        self.task = task
        self.hidden = hidden
        self.epochs = epochs
        self.batch_size = batch_size
        self.lr = lr
        self.weight_decay = weight_decay
        self.random_state = random_state

    def fit(self, X: np.ndarray, targets: np.ndarray, categorical: np.ndarray | None = None,
            validation: tuple[np.ndarray, np.ndarray] | None = None,
            sample_weight: np.ndarray | None = None) -> MLPStudent:
        if sample_weight is not None:
            raise ConfigError("the mlp student takes no row weights (synthetic_weight); use tree, boosting or linear")
        from kdistill.training import TrainConfig, train

        seed = int(np.random.RandomState(self.random_state).randint(2**31 - 1))
        torch.manual_seed(seed)
        targets = np.asarray(targets, dtype=np.float64)
        if self.task == "regression":
            self.target_mean_, self.target_scale_ = float(targets.mean()), float(targets.std() or 1.0)
            targets = (targets - self.target_mean_) / self.target_scale_
        n_outputs = 1 if self.task == "regression" else targets.shape[1]
        model = build_mlp(X.shape[1], tuple(self.hidden), n_outputs)
        batches = ShuffledBatches(torch.as_tensor(X, dtype=torch.float32), torch.as_tensor(targets, dtype=torch.float32),
                                  self.batch_size, seed, self.task)
        # With real validation rows the kept epoch is the best on them (synthetic rows never decide): classification
        # through the loop's own selection (validation accuracy), regression through the validation squared error
        # measured after each epoch (the loop's selection reads accuracy only).
        val_batches, regression_check = None, None
        if validation is not None and self.task == "regression":
            regression_check = BestEpochOnValidation(model, *validation, self.target_mean_, self.target_scale_)
        if validation is not None and self.task == "classification":
            X_val, val_targets = validation
            inputs = torch.as_tensor(np.asarray(X_val), dtype=torch.float32)
            labels = torch.as_tensor(np.asarray(val_targets).argmax(-1))
            val_batches = [{"inputs": inputs[i : i + 4096], "labels": labels[i : i + 4096]}
                           for i in range(0, len(inputs), 4096)]
        config = TrainConfig(epochs=self.epochs, batch_size=self.batch_size, optimizer="adamw", lr=self.lr,
                             weight_decay=self.weight_decay, schedule="cosine",
                             select="best" if val_batches else "last", seed=seed)
        self.history_ = train(model, SoftTargetStrategy(self.task), batches, val_batches, config, desc="mlp student",
                              progress=False, on_epoch=regression_check,
                              epoch_log_level=logging.DEBUG).history  # a search trains dozens: no line per epoch
        if regression_check is not None:
            model.load_state_dict(regression_check.best_weights)
            self.best_epoch_ = regression_check.best_epoch
        self.weights_ = [layer.weight.detach().numpy().T.copy() for layer in model if isinstance(layer, nn.Linear)]
        self.biases_ = [layer.bias.detach().numpy().copy() for layer in model if isinstance(layer, nn.Linear)]
        return self

    def predict_soft(self, X: np.ndarray) -> np.ndarray:
        hidden = np.asarray(X, dtype=np.float32)
        for index, (weight, bias) in enumerate(zip(self.weights_, self.biases_)):
            hidden = hidden @ weight + bias
            if index < len(self.weights_) - 1:
                hidden = np.maximum(hidden, 0.0)
        if self.task == "regression":
            return hidden[:, 0].astype(np.float64) * self.target_scale_ + self.target_mean_
        hidden = hidden - hidden.max(axis=1, keepdims=True)
        exp = np.exp(hidden.astype(np.float64))
        return exp / exp.sum(axis=1, keepdims=True)

"""Tiny model and training settings shared by the procedure tests (imported by name: unique module name)."""

MLP = {"model": "mlp", "model_args": {"hidden": [32]}}
TRAIN = {"epochs": 1, "batch_size": 64, "optimizer": "adam", "lr": 0.01, "schedule": "constant"}

"""The training loop, its configuration and checkpoints."""

from kdistill.training.checkpoint import load_weights, save_weights
from kdistill.training.config import TrainConfig
from kdistill.training.loop import TrainResult, train

__all__ = ["TrainConfig", "TrainResult", "load_weights", "save_weights", "train"]

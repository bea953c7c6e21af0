"""Models built by name: ``build_model("mlp", input_shape=(1, 28, 28), num_classes=10, hidden=[800, 800])``."""

from kdistill.models import causal_lm, cnn, hf_text, mlp, resnet, vgg, wrn  # noqa: F401  (registers the builders)
from kdistill.models.cnn import SmallCNN
from kdistill.models.ensemble import AveragedEnsemble
from kdistill.models.mlp import MLP
from kdistill.models.registry import MODELS, build_model

__all__ = ["MLP", "MODELS", "AveragedEnsemble", "SmallCNN", "build_model"]

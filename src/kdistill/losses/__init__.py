"""Distillation losses: pure functions on logits, plus thin ``nn.Module`` wrappers."""

from kdistill.losses.hinton import (
    IGNORE_INDEX,
    HintonKDLoss,
    hard_label_cross_entropy,
    hinton_kd_loss,
    kd_kl_divergence,
    logit_matching_loss,
    soft_target_cross_entropy,
)
from kdistill.losses.reduction import masked_mean
from kdistill.losses.temperature import log_softmax_with_temperature, softmax_with_temperature

__all__ = [
    "IGNORE_INDEX",
    "HintonKDLoss",
    "hard_label_cross_entropy",
    "hinton_kd_loss",
    "kd_kl_divergence",
    "log_softmax_with_temperature",
    "logit_matching_loss",
    "masked_mean",
    "soft_target_cross_entropy",
    "softmax_with_temperature",
]

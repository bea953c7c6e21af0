"""Distillation losses: pure functions on logits, plus thin ``nn.Module`` wrappers."""

from kdistill.losses.hinton import (
    IGNORE_INDEX,
    HintonKDLoss,
    hard_label_cross_entropy,
    hinton_kd_loss,
    hinton_kd_loss_from_log_probs,
    kd_kl_divergence,
    logit_matching_loss,
    soft_target_cross_entropy,
)
from kdistill.losses.soft_targets import tempered_log_probs
from kdistill.losses.reduction import masked_mean
from kdistill.losses.temperature import (
    log_softmax_with_temperature,
    softmax_with_temperature,
)
from kdistill.losses.token_divergence import (
    DIVERGENCES,
    RESIDUAL_MODES,
    TopKLogProbs,
    labels_mask,
    token_divergence,
    topk_log_probs,
)

__all__ = [
    "DIVERGENCES",
    "IGNORE_INDEX",
    "RESIDUAL_MODES",
    "HintonKDLoss",
    "TopKLogProbs",
    "hard_label_cross_entropy",
    "hinton_kd_loss",
    "hinton_kd_loss_from_log_probs",
    "kd_kl_divergence",
    "labels_mask",
    "log_softmax_with_temperature",
    "logit_matching_loss",
    "masked_mean",
    "soft_target_cross_entropy",
    "softmax_with_temperature",
    "tempered_log_probs",
    "token_divergence",
    "topk_log_probs",
]

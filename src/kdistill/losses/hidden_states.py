"""Hidden-state MSE over real tokens (TinyBERT's L_hidn, Jiao et al. 2020, "TinyBERT: Distilling BERT for Natural
Language Understanding", Findings of EMNLP):

    L = Σ_{b,t} m_bt · mean_d (H^S_bt W_h − H^T_bt)_d²  /  Σ_{b,t} m_bt

``student_hidden`` is already projected (W_h, when the widths differ, is a connector owned by the method). Padding
(m = 0) never contributes: TinyBERT's released code averaged over padded positions too, which makes the loss depend
on how much padding a batch happens to have.
"""

from __future__ import annotations

import torch

from kdistill.errors import ShapeError
from kdistill.losses.reduction import masked_mean


def check_token_mask(values: torch.Tensor, mask: torch.Tensor | None) -> None:
    if mask is not None and tuple(mask.shape) != tuple(values.shape[:2]):
        raise ShapeError(f"attention mask {tuple(mask.shape)} does not match the (batch, tokens) "
                         f"{tuple(values.shape[:2])} of the hidden states")


def hidden_state_mse(student_hidden: torch.Tensor, teacher_hidden: torch.Tensor,
                     mask: torch.Tensor | None = None) -> torch.Tensor:
    """(B, T, H) projected student and teacher states, (B, T) mask (1 = real token) -> scalar float32."""
    if student_hidden.shape != teacher_hidden.shape:
        raise ShapeError(f"student hidden states {tuple(student_hidden.shape)} and teacher's "
                         f"{tuple(teacher_hidden.shape)} differ; project the student to the teacher's width")
    check_token_mask(student_hidden, mask)
    per_token = (student_hidden.float() - teacher_hidden.float()).pow(2).mean(dim=-1)  # (B, T)
    return masked_mean(per_token, None if mask is None else mask.ne(0))

"""Embedding-layer MSE (TinyBERT's L_embd): the hidden-state loss on the embedding layer's output, E^S W_e vs E^T.

The embedding output (word + position + token-type embeddings, LayerNorm) is the encoder's layer 0, so the loss is
:func:`~kdistill.losses.hidden_states.hidden_state_mse` on it, with its own projection W_e when the widths differ;
padding positions never contribute.
"""

from __future__ import annotations

import torch

from kdistill.losses.hidden_states import hidden_state_mse


def embedding_layer_mse(student_embeddings: torch.Tensor, teacher_embeddings: torch.Tensor,
                        mask: torch.Tensor | None = None) -> torch.Tensor:
    """(B, T, H) projected student and teacher embedding outputs, (B, T) mask -> scalar float32."""
    return hidden_state_mse(student_embeddings, teacher_embeddings, mask)

"""Sentence-embedding distillation: the student's sentence vectors regress the teacher's (MSE) and point the same way
(cosine), through a learnable projection when the widths differ. Teacher and student are embedding models: their
output *is* the embedding, (B, D) - e.g. ``minilm-embedder`` (mean pooling over real tokens).

    L = mse_weight · mean (s W − t)² + cosine_weight · mean (1 − cos(s W, t))       (losses/sentence_embedding.py)

The projection W is a connector (trained, checkpointed, not exported), so the exported student's embeddings live in
its own width; ``projection: none`` trains the student to emit the teacher's space itself (equal widths only).
"""

from __future__ import annotations

from typing import Annotated

import torch
from torch import nn

from kdistill.arguments import OneOf, Weight
from kdistill.batch import Batch, forward_model
from kdistill.errors import ConfigError, ShapeError
from kdistill.features import build_connector
from kdistill.losses.sentence_embedding import cosine_distance, embedding_mse
from kdistill.strategies.features_common import weighted_step
from kdistill.strategies.spec import register_method
from kdistill.teachers import Teacher


class SentenceEmbeddingStrategy(nn.Module):
    def __init__(self, teacher: Teacher, projection: nn.Module, mse_weight: float, cosine_weight: float):
        super().__init__()
        self.teacher = teacher
        self.projection = projection
        self.mse_weight, self.cosine_weight = mse_weight, cosine_weight

    def forward(self, batch: Batch, student: nn.Module) -> dict[str, torch.Tensor]:
        teacher_embeddings = self.teacher(batch)  # (B, Dt), no grad
        student_embeddings = forward_model(student, batch)  # (B, Ds)
        projected = self.projection(student_embeddings)
        terms = {"mse": (self.mse_weight, embedding_mse(projected, teacher_embeddings)),
                 "cosine": (self.cosine_weight, cosine_distance(projected, teacher_embeddings))}
        return weighted_step(student_embeddings, terms)


@register_method("sentence-embedding", search_space={"cosine_weight": ("log", 0.1, 10.0)})
def sentence_embedding(
    teacher: Teacher | None = None,
    student: nn.Module | None = None,
    example_batch: Batch | None = None,
    projection: Annotated[str, OneOf(("auto", "always", "none"))] = "auto",
    mse_weight: Weight = 1.0,
    cosine_weight: Weight = 1.0,
) -> SentenceEmbeddingStrategy:
    """Sentence embeddings: MSE + cosine between student and teacher vectors, projected when widths differ."""
    if teacher is None or student is None or example_batch is None:
        raise ConfigError("method 'sentence-embedding' needs a teacher, the student and one example batch")
    was_training = student.training
    student.eval()
    with torch.no_grad():
        teacher_shape, student_shape = teacher(example_batch).shape, forward_model(student, example_batch).shape
    student.train(was_training)
    if len(teacher_shape) != 2 or len(student_shape) != 2:
        raise ShapeError(f"sentence-embedding needs models that output (batch, dim) embeddings; got teacher "
                         f"{tuple(teacher_shape)} and student {tuple(student_shape)} (use minilm-embedder)")
    return SentenceEmbeddingStrategy(teacher, build_connector(student_shape[1:], teacher_shape[1:], projection),
                                     mse_weight, cosine_weight)

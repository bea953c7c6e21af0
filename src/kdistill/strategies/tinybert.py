"""TinyBERT-style distillation (Jiao et al. 2020, "TinyBERT: Distilling BERT for Natural Language Understanding").

Four parts, each switchable by its weight, so the ablation of He et al. 2021 is a change of arguments:

    L = embedding_weight · L_embd(E^S W_e, E^T)                         embedding layer, masked MSE
      + hidden_weight    · Σ_m L_hidn(H^S_m W_h, H^T_g(m))              hidden states, masked MSE
      + attention_weight · Σ_m L_attn(A^S_m, A^T_g(m))                  attention scores (or probabilities), masked
      + kd_weight · T²·KL(σ(z^T/T) ‖ σ(z^S/T)) + ce_weight · CE          prediction layer (``stage: task`` only)

g is the layer map (``layers``: uniform / last / explicit pairs, ``kdistill.features.layer_maps``). W_e and W_h are
learnable projections (connectors: trained, checkpointed, not exported) when the widths differ (``projection:
auto``), or always. ``stage``: ``general`` = intermediate layers only (TinyBERT's general distillation and the first
step of its task distillation), ``task`` = intermediate layers plus the prediction layer. The fourth part, data
augmentation, is ``kdistill.text.augment`` (a transfer set, not a loss).

Every term averages over real tokens only: padding never contributes. Features come from hooks (no model changes):
hidden states of ``encoder.layer[i]``, embeddings, and the query/key projections the attention scores are rebuilt
from, so any attention implementation works.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Annotated

import torch
from torch import nn

from kdistill.arguments import OneOf, Temperature, Weight
from kdistill.batch import Batch
from kdistill.errors import ConfigError
from kdistill.features import build_connector
from kdistill.features.layer_maps import LayerMapSpec, layer_map
from kdistill.features.matching import StoredLayers
from kdistill.features.transformer_layout import EncoderLayout, encoder_layout
from kdistill.losses.attention_maps import attention_map_loss, attention_scores
from kdistill.losses.embedding_layer import embedding_layer_mse
from kdistill.losses.hidden_states import hidden_state_mse
from kdistill.strategies.features_common import feature_model, logit_terms, run_with_features, weighted_step
from kdistill.strategies.spec import register_method
from kdistill.teachers import Teacher


def token_mask(batch: Batch) -> torch.Tensor | None:
    """(B, T) attention mask of a text batch (1 = real token), None when the batch has none (no padding)."""
    inputs = batch["inputs"]
    return inputs.get("attention_mask") if isinstance(inputs, Mapping) else None


class TinyBertStrategy(nn.Module):
    """The weighted TinyBERT loss over tapped embeddings, hidden states and attention projections."""

    def __init__(self, teacher: Teacher, teacher_model: nn.Module, student_layout: EncoderLayout,
                 teacher_layout: EncoderLayout, pairs: list[tuple[int, int]], embedding_projection: nn.Module,
                 hidden_projection: nn.Module, weights: dict[str, float], attention_target: str,
                 attention_heads: str, temperature: float, stage: str):
        super().__init__()
        self.teacher = teacher
        self.teacher_model = [teacher_model]  # a list, not a submodule: the teacher's weights stay out of the state
        self.student_layout, self.teacher_layout, self.pairs = student_layout, teacher_layout, pairs
        self.embedding_projection, self.hidden_projection = embedding_projection, hidden_projection
        self.weights = weights
        self.attention_target, self.attention_heads = attention_target, attention_heads
        self.temperature, self.stage = temperature, stage
        self.taps = self.tap_pairs()

    def tap_pairs(self) -> list[tuple[str, str]]:
        """(student module, teacher module) pairs to capture, only for the terms with a weight."""
        s, t = self.student_layout, self.teacher_layout
        taps = [(s.embeddings, t.embeddings)] if self.weights["embedding"] else []
        if self.weights["hidden"]:
            taps += [(s.layers[m - 1], t.layers[n - 1]) for m, n in self.pairs]
        if self.weights["attention"]:
            taps += [(s.query(m - 1), t.query(n - 1)) for m, n in self.pairs]
            taps += [(s.key(m - 1), t.key(n - 1)) for m, n in self.pairs]
        return taps

    def forward(self, batch: Batch, student: nn.Module) -> dict[str, torch.Tensor]:
        tapped = run_with_features(self.teacher, self.teacher_model[0], student, batch, self.taps)
        mask = token_mask(batch)
        features = iter(zip(tapped.student_features, tapped.teacher_features))
        terms: dict[str, tuple[float, torch.Tensor]] = {}
        if self.stage == "task":
            terms = logit_terms(tapped.student_logits, tapped.teacher_logits, batch.get("labels"),
                                self.weights["ce"], self.weights["kd"], self.temperature)
        if self.weights["embedding"]:
            student_embeddings, teacher_embeddings = next(features)
            terms["embedding"] = (self.weights["embedding"], embedding_layer_mse(
                self.embedding_projection(student_embeddings), teacher_embeddings, mask))
        if self.weights["hidden"]:
            losses = [hidden_state_mse(self.hidden_projection(s), t, mask) for s, t in
                      (next(features) for _ in self.pairs)]
            terms["hidden"] = (self.weights["hidden"], torch.stack(losses).sum())
        if self.weights["attention"]:
            queries = [next(features) for _ in self.pairs]
            keys = [next(features) for _ in self.pairs]
            losses = [attention_map_loss(attention_scores(sq, sk, self.student_layout.heads),
                                         attention_scores(tq, tk, self.teacher_layout.heads), mask,
                                         self.attention_target, self.attention_heads)
                      for (sq, tq), (sk, tk) in zip(queries, keys)]
            terms["attention"] = (self.weights["attention"], torch.stack(losses).sum())
        return weighted_step(tapped.student_logits, terms)


def live_encoder(teacher: Teacher | None) -> nn.Module:
    teacher_model = feature_model(teacher, "tinybert")
    if isinstance(teacher_model, StoredLayers):
        raise ConfigError("method 'tinybert' reads the teacher's attention projections, which a teacher cache does "
                          "not store; set distill.cache.enabled: false")
    return teacher_model


@register_method("tinybert", reads_features=True, models="bert", search_space={
    "hidden_weight": ("log", 0.1, 10.0), "attention_weight": ("log", 0.1, 10.0), "temperature": ("log", 1.0, 8.0)})
def tinybert(
    teacher: Teacher | None = None,
    student: nn.Module | None = None,
    layers: LayerMapSpec = "uniform",
    stage: Annotated[str, OneOf(("general", "task"))] = "task",
    projection: Annotated[str, OneOf(("auto", "always"))] = "auto",
    attention_target: Annotated[str, OneOf(("scores", "probs"))] = "scores",
    attention_heads: Annotated[str, OneOf(("per-head", "mean"))] = "per-head",
    embedding_weight: Weight = 1.0,
    hidden_weight: Weight = 1.0,
    attention_weight: Weight = 1.0,
    kd_weight: Weight = 1.0,
    ce_weight: Weight = 0.0,
    temperature: Temperature = 1.0,
) -> TinyBertStrategy:
    """TinyBERT (Jiao et al. 2020): embedding, hidden-state and attention losses through a layer map, plus logits."""
    teacher_model = live_encoder(teacher)
    if student is None:
        raise ConfigError("method 'tinybert' needs the student (context 'student') to find its layers")
    student_layout, teacher_layout = encoder_layout(student), encoder_layout(teacher_model)
    pairs = layer_map(layers, len(student_layout.layers), len(teacher_layout.layers))
    if attention_weight and attention_heads == "per-head" and student_layout.heads != teacher_layout.heads:
        raise ConfigError(f"the student has {student_layout.heads} attention heads and the teacher "
                          f"{teacher_layout.heads}: per-head attention maps cannot be matched; set attention_heads: "
                          "mean or give the student the teacher's head count")
    if stage == "general" and not (embedding_weight or hidden_weight or attention_weight):
        raise ConfigError("stage general trains on the intermediate layers only, but embedding_weight, "
                          "hidden_weight and attention_weight are all 0; give one of them a positive value")
    widths = (student_layout.width,), (teacher_layout.width,)
    weights = {"embedding": embedding_weight, "hidden": hidden_weight, "attention": attention_weight,
               "kd": kd_weight, "ce": ce_weight}
    return TinyBertStrategy(teacher, teacher_model, student_layout, teacher_layout, pairs,
                            build_connector(*widths, projection), build_connector(*widths, projection), weights,
                            attention_target, attention_heads, temperature, stage)

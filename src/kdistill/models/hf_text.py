"""Hugging Face text encoders as registered models (recipes name them; ``model_args`` are typed and ranged).

- ``bert-classifier``: a ``BertForSequenceClassification`` from a config built in code (random init; tiny ones for
  tests, or a from-scratch student);
- ``minilm-classifier``: all-MiniLM-L6-v2 (pinned wheel, ``kdistill.data.pretrained``) with a classification head;
  ``num_layers`` < 6 keeps a subset of its layers (``keep``, default spread evenly), ``hidden`` a narrower width
  (``init: scratch``, only the config is MiniLM's);
- ``minilm-embedder``: the same encoder returning the sentence-transformers embedding (mean of the last hidden states
  over real tokens), for sentence-embedding distillation.

Text inputs are ``{"input_ids": (T,), "attention_mask": (T,)}`` per sample; the models run with sdpa attention.
"""

from __future__ import annotations

import contextlib
from collections.abc import Iterator, Mapping, Sequence
from typing import Annotated, Any

import torch
from torch import nn

from kdistill.arguments import Fraction, NonNegativeInt, OneOf, PositiveInt
from kdistill.models.hf_student import student_from_teacher
from kdistill.models.registry import register_model
from kdistill.text.tokenize import require_transformers

MINILM_VOCAB = 30522


def takes_text(builder):  # type: ignore[no-untyped-def]
    """Mark a builder whose model takes token ids (``{"input_ids", "attention_mask"}``), not an image tensor."""
    builder.inputs = "text"
    return builder


def sequence_length(input_shape: Any, default: int = 512) -> int:
    """T of text inputs ``{"input_ids": (T,), ...}``; ``default`` for anything else (a builder probed without data)."""
    if isinstance(input_shape, Mapping) and "input_ids" in input_shape:
        return int(tuple(input_shape["input_ids"])[0])
    return default


@contextlib.contextmanager
def quiet_transformers() -> Iterator[None]:
    """Silence transformers' load report and progress bar (the report lists the new classification head as MISSING
    on every build)."""
    transformers = require_transformers()
    level, bars = transformers.logging.get_verbosity(), transformers.logging.is_progress_bar_enabled()
    transformers.logging.set_verbosity_error()
    transformers.logging.disable_progress_bar()
    try:
        yield
    finally:
        transformers.logging.set_verbosity(level)
        if bars:
            transformers.logging.enable_progress_bar()


@register_model("bert-classifier")
@takes_text
def bert_classifier(
    input_shape: Any,
    num_classes: int,
    vocab_size: PositiveInt = MINILM_VOCAB,
    hidden: PositiveInt = 128,
    layers: PositiveInt = 2,
    heads: PositiveInt = 2,
    intermediate: PositiveInt | None = None,
    dropout: Fraction = 0.1,
) -> nn.Module:
    """BERT for sequence classification from a config in code (random init): vocab, width, layers, heads."""
    transformers = require_transformers()
    config = transformers.BertConfig(
        vocab_size=vocab_size, hidden_size=hidden, num_hidden_layers=layers, num_attention_heads=heads,
        intermediate_size=intermediate or 4 * hidden, max_position_embeddings=sequence_length(input_shape),
        num_labels=num_classes, hidden_dropout_prob=dropout, attention_probs_dropout_prob=dropout,
    )
    return transformers.BertForSequenceClassification(config)


def load_minilm(kind: str, num_classes: int = 2) -> nn.Module:
    from kdistill.data.pretrained import pretrained_folder

    transformers = require_transformers()
    folder = str(pretrained_folder("minilm-l6"))
    with quiet_transformers():
        if kind == "classifier":
            return transformers.AutoModelForSequenceClassification.from_pretrained(folder, num_labels=num_classes)
        return transformers.AutoModel.from_pretrained(folder, add_pooling_layer=False)


def shrunk(model: nn.Module, num_layers: int, keep: Sequence[int] | None, hidden: int | None, heads: int | None,
           init: str) -> nn.Module:
    layers = model.config.num_hidden_layers
    if num_layers == layers and keep is None and hidden in (None, model.config.hidden_size) and heads is None \
            and init == "teacher":
        return model
    return student_from_teacher(model, num_layers, hidden=hidden, heads=heads, keep=keep, init=init)


Init = Annotated[str, OneOf(("pretrained", "scratch"))]


@register_model("minilm-classifier")
@takes_text
def minilm_classifier(
    input_shape: Any,
    num_classes: int,
    num_layers: Annotated[int, OneOf((1, 2, 3, 4, 5, 6))] = 6,
    keep: list[NonNegativeInt] | None = None,
    hidden: PositiveInt | None = None,
    heads: PositiveInt | None = None,
    init: Init = "pretrained",
) -> nn.Module:
    """all-MiniLM-L6-v2 + classification head; fewer layers (a subset of its own) or a narrower, fresh width."""
    del input_shape  # any length up to 512 positions
    model = load_minilm("classifier", num_classes)
    return shrunk(model, num_layers, keep, hidden, heads, "teacher" if init == "pretrained" else "scratch")


class MeanPooledEncoder(nn.Module):
    """An encoder returning the mean of its last hidden states over real tokens: ``(B, H)`` sentence embeddings."""

    def __init__(self, encoder: nn.Module):
        super().__init__()
        self.encoder = encoder

    def forward(self, input_ids: torch.Tensor, attention_mask: torch.Tensor | None = None, **kwargs: Any) -> torch.Tensor:
        if attention_mask is None:
            attention_mask = torch.ones_like(input_ids)
        hidden = self.encoder(input_ids=input_ids, attention_mask=attention_mask, **kwargs).last_hidden_state
        weights = attention_mask.unsqueeze(-1).to(hidden.dtype)  # (B, T, 1)
        return (hidden * weights).sum(1) / weights.sum(1).clamp_min(1.0)  # (B, H)

    def save_pretrained(self, folder: Any, **kwargs: Any) -> None:
        self.encoder.save_pretrained(folder, **kwargs)


@register_model("minilm-embedder")
@takes_text
def minilm_embedder(
    input_shape: Any,
    num_classes: int,
    num_layers: Annotated[int, OneOf((1, 2, 3, 4, 5, 6))] = 6,
    keep: list[NonNegativeInt] | None = None,
    hidden: PositiveInt | None = None,
    heads: PositiveInt | None = None,
    init: Init = "pretrained",
) -> nn.Module:
    """all-MiniLM-L6-v2 sentence embeddings (mean pooling), optionally fewer layers or a narrower width."""
    del input_shape, num_classes  # embeddings: no classes
    encoder = load_minilm("encoder")
    return MeanPooledEncoder(shrunk(encoder, num_layers, keep, hidden, heads,
                                    "teacher" if init == "pretrained" else "scratch"))

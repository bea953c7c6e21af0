"""Where a BERT-family encoder keeps what TinyBERT-style methods read: module names found by structure, not by class.

    layout = encoder_layout(model)    # BertForSequenceClassification: prefix "bert"
    layout.embeddings                 # "bert.embeddings"            -> (B, T, H) embedding-layer output
    layout.layers                     # ["bert.encoder.layer.0", ...] -> (B, T, H) hidden states, one per layer
    layout.query(0), layout.key(0)    # "bert.encoder.layer.0.attention.self.query" -> (B, T, H) projections
    layout.heads                      # attention heads per layer (12 for MiniLM-L6)

Attention scores are rebuilt from the tapped query and key projections (``losses/attention_maps.py``) rather than
read from the model's attention output, so they are the pre-softmax scores TinyBERT distils, with no attention
dropout, and work with any attention implementation (sdpa, eager).
"""

from __future__ import annotations

from dataclasses import dataclass

from torch import nn

from kdistill.errors import ConfigError
from kdistill.features.taps import unwrap_model


@dataclass(frozen=True)
class EncoderLayout:
    prefix: str  # the encoder's module path ("" for a bare BertModel)
    layers: tuple[str, ...]
    heads: int
    width: int

    @property
    def embeddings(self) -> str:
        return self.join("embeddings")

    def join(self, name: str) -> str:
        return f"{self.prefix}.{name}" if self.prefix else name

    def query(self, layer: int) -> str:
        return f"{self.layers[layer]}.attention.self.query"

    def key(self, layer: int) -> str:
        return f"{self.layers[layer]}.attention.self.key"


def is_encoder(module: nn.Module) -> bool:
    layers = getattr(getattr(module, "encoder", None), "layer", None)
    return isinstance(getattr(module, "embeddings", None), nn.Module) and isinstance(layers, nn.ModuleList)


def encoder_layout(model: nn.Module) -> EncoderLayout:
    """The layout of the first BERT-family encoder inside ``model`` (embeddings + encoder.layer[i].attention.self)."""
    for name, module in unwrap_model(model).named_modules():
        if is_encoder(module):
            layers = tuple(f"{name}.encoder.layer.{i}" if name else f"encoder.layer.{i}"
                           for i in range(len(module.encoder.layer)))
            attention = getattr(getattr(module.encoder.layer[0], "attention", None), "self", None) if layers else None
            heads = getattr(attention, "num_attention_heads", None)
            if heads is None:
                break
            return EncoderLayout(name, layers, int(heads), int(module.embeddings.word_embeddings.embedding_dim))
    raise ConfigError(f"{type(unwrap_model(model)).__name__} has no BERT-family encoder (a module with .embeddings "
                      "and .encoder.layer[i].attention.self); TinyBERT-style methods need one on both sides")

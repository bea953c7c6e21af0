"""Text for distillation: tokenised sentences as contract batches, padding trimmed per batch, and transfer-set
augmentation (TinyBERT's fourth part).

    from kdistill.text import TokenDataset, encode, load_tokenizer, text_loader
    tokens = encode(texts, load_tokenizer(folder), max_length=64)   # {"input_ids", "attention_mask"}: (N, 64)
    loader = text_loader(TokenDataset(tokens, labels), batch_size=32, seed=0)

Models: ``bert-classifier``, ``minilm-classifier``, ``minilm-embedder`` (``kdistill.models.hf_text``); methods:
``tinybert``, ``sentence-embedding``; data: the ``text`` source (``kdistill.sources.text``).
"""

from kdistill.text.padding import trim_padding
from kdistill.text.tokenize import encode, load_tokenizer

__all__ = ["encode", "load_tokenizer", "trim_padding"]

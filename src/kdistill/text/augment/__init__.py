"""Transfer-set augmentation (TinyBERT's fourth part): N seeded copies of each sentence with some words replaced.

- :class:`EmbeddingNeighbours`: a word is replaced by one of its K nearest neighbours (cosine) in the teacher's
  input-embedding space (TinyBERT used GloVe neighbours for multi-piece words);
- :class:`MaskedFill`: a word is masked and refilled by one of the K most likely tokens of a masked-LM head
  (TinyBERT's choice for single-piece words), whenever such a head is available.

:func:`augment_tokens` makes the copies; each copy is a function of (seed, sentence index, copy number) only, so the
transfer set is the same whatever the batching and can be cached (:func:`cached_transfer_set`).
"""

from kdistill.text.augment.masked_fill import MaskedFill
from kdistill.text.augment.neighbours import EmbeddingNeighbours, replaceable_tokens
from kdistill.text.augment.transfer_set import augment_tokens, cached_transfer_set, sentence_generator

__all__ = ["EmbeddingNeighbours", "MaskedFill", "augment_tokens", "cached_transfer_set", "replaceable_tokens",
           "sentence_generator"]

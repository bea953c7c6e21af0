"""Tiny word-level tokenizer and a folder of short documents for the language-model tests: nothing is downloaded."""

import pytest

transformers = pytest.importorskip("transformers")

WORDS = [
    "the", "cat", "dog", "sat", "ran", "on", "a", "mat", "log", "and", "then", "it", "slept", "by", "fire", "red",
    "blue", "green", "small", "big", "quiet", "loud", "old", "new", "house", "tree", "river", "hill", "king",
    "queen", "fool", "night", "day",
]
SEPARATOR = "<|endoftext|>"


def make_tokenizer(folder):
    """A WordLevel tokenizer over WORDS (id 0 the document separator, 1 unknown) saved as a tokenizer.json folder."""
    from tokenizers import Tokenizer, models, pre_tokenizers

    vocab = {SEPARATOR: 0, "[UNK]": 1, **{word: i + 2 for i, word in enumerate(WORDS)}}
    tokenizer = Tokenizer(models.WordLevel(vocab, unk_token="[UNK]"))
    tokenizer.pre_tokenizer = pre_tokenizers.Whitespace()
    fast = transformers.PreTrainedTokenizerFast(tokenizer_object=tokenizer, eos_token=SEPARATOR, unk_token="[UNK]")
    fast.save_pretrained(str(folder))
    return folder, len(vocab)


def make_documents(folder, count=10, words=60, seed=0):
    """``count`` .txt documents of ``words`` seeded random words each, named doc-00.txt ..."""
    import random

    folder.mkdir(parents=True, exist_ok=True)
    rng = random.Random(seed)
    for index in range(count):
        (folder / f"doc-{index:02d}.txt").write_text(" ".join(rng.choice(WORDS) for _ in range(words)))
    return folder

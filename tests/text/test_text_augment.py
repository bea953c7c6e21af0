"""Transfer-set augmentation: seeded per sentence (deterministic whatever the batching), whole words only, cached."""

import torch
import transformers
from text_helpers import VOCAB, token_data

from kdistill.text.augment import EmbeddingNeighbours, MaskedFill, augment_tokens, cached_transfer_set

SPECIAL = 4  # ids 0..3 are padding / [CLS] / [SEP] / [MASK]; 4.. are whole words; the last 6 are "##" pieces


def vocabulary():
    replaceable = torch.zeros(VOCAB, dtype=torch.bool)
    replaceable[SPECIAL:VOCAB - 6] = True
    continuation = torch.zeros(VOCAB, dtype=torch.bool)
    continuation[VOCAB - 6:] = True
    return replaceable, continuation


def neighbours(k=3, probability=0.5):
    torch.manual_seed(0)
    return EmbeddingNeighbours(torch.randn(VOCAB, 8), *vocabulary(), k=k, probability=probability)


def test_copies_depend_only_on_seed_sentence_and_copy():
    data = token_data(24)
    first, origin = augment_tokens(data.tokens, 2, neighbours(), seed=3)
    again, _ = augment_tokens(data.tokens, 2, neighbours(), seed=3)
    other, _ = augment_tokens(data.tokens, 2, neighbours(), seed=4)
    assert torch.equal(first["input_ids"], again["input_ids"])
    assert not torch.equal(first["input_ids"], other["input_ids"])
    assert origin.tolist() == list(range(24)) * 2
    # augmenting only the first 8 sentences gives their rows of the full run: a copy depends on its sentence's
    # index and copy number, not on what else is augmented alongside
    part = {key: value[:8] for key, value in data.tokens.items()}
    alone, _ = augment_tokens(part, 2, neighbours(), seed=3)
    assert torch.equal(alone["input_ids"][:8], first["input_ids"][:8])
    assert torch.equal(alone["input_ids"][8:], first["input_ids"][24:32])


def test_only_real_whole_words_are_replaced_by_embedding_neighbours():
    data = token_data(32)
    ids, mask = data.tokens["input_ids"].clone(), data.tokens["attention_mask"]
    ids[:, 2] = VOCAB - 1  # a "##" piece after position 1: the word at position 1 has several pieces
    augmented, _ = augment_tokens({"input_ids": ids, "attention_mask": mask}, 3, neighbours(probability=1.0), 0)
    changed = augmented["input_ids"] != ids.repeat(3, 1)
    replaceable, _ = vocabulary()
    assert changed.any()
    assert not changed[mask.repeat(3, 1) == 0].any()  # padding untouched
    assert not changed[:, [1, 2]].any()  # multi-piece word and its piece untouched
    assert replaceable[augmented["input_ids"][changed]].all()  # replacements are whole words
    assert torch.equal(augmented["attention_mask"], mask.repeat(3, 1))


def test_neighbours_are_the_nearest_by_cosine():
    replacer = neighbours(k=2)
    replacer.prepare([10])
    vectors = torch.nn.functional.normalize(replacer.embeddings, dim=-1)
    similarity = vectors[10] @ vectors.T
    similarity[~replacer.replaceable] = -2
    similarity[10] = -2
    assert set(replacer.table[10].tolist()) == set(similarity.topk(2).indices.tolist())


def test_masked_fill_is_deterministic_and_refills_with_other_whole_words():
    torch.manual_seed(0)
    config = transformers.BertConfig(vocab_size=VOCAB, hidden_size=16, num_hidden_layers=1, num_attention_heads=2,
                                     intermediate_size=32, max_position_embeddings=16)
    model = transformers.BertForMaskedLM(config)
    fill = MaskedFill(model, mask_token_id=3, replaceable=vocabulary()[0], continuation=vocabulary()[1], k=3,
                      probability=1.0)
    data = token_data(6)
    first, _ = augment_tokens(data.tokens, 1, fill, seed=0)
    second, _ = augment_tokens(data.tokens, 1, fill, seed=0)
    assert torch.equal(first["input_ids"], second["input_ids"])
    changed = first["input_ids"] != data.tokens["input_ids"]
    assert changed.any() and vocabulary()[0][first["input_ids"][changed]].all()


def test_the_transfer_set_is_cached_and_reread(tmp_path, monkeypatch):
    data = token_data(8)
    first, origin = cached_transfer_set(tmp_path, data.tokens, 2, neighbours(), seed=0)
    assert len(list(tmp_path.glob("transfer-*.npz"))) == 1
    monkeypatch.setattr("kdistill.text.augment.transfer_set.augment_tokens",
                        lambda *a, **k: (_ for _ in ()).throw(AssertionError("recomputed")))
    again, origin_again = cached_transfer_set(tmp_path, data.tokens, 2, neighbours(), seed=0)
    assert torch.equal(first["input_ids"], again["input_ids"]) and torch.equal(origin, origin_again)

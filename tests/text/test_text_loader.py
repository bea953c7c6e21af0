"""Length-bucketed text batches: every sentence once per epoch, an order drawn from (seed, epoch), short batches."""

import torch

from kdistill.text.dataset import LengthBuckets, TokenDataset, text_loader
from kdistill.training.seeding import start_epoch

from text_helpers import token_data


def test_each_epoch_covers_every_sentence_once_in_a_seeded_order():
    lengths = torch.randint(1, 60, (1000,), generator=torch.Generator().manual_seed(0))
    buckets = LengthBuckets(lengths, batch_size=32, seed=5)
    first = buckets.batches()
    assert sorted(i for batch in first for i in batch) == list(range(1000)) and len(first) == len(buckets)
    assert LengthBuckets(lengths, 32, seed=5).batches() == first
    buckets.set_epoch(2)
    assert buckets.batches() != first
    spread = [int(lengths[b].max() - lengths[b].min()) for b in first if len(b) == 32]
    assert max(spread) <= 10  # sorted within chunks of 50 batches: similar lengths share a batch


def test_the_training_loop_reaches_the_buckets_and_batches_are_trimmed():
    data = token_data(64)
    loader = text_loader(data, 16, seed=0)
    start_epoch(loader, 0, 3)  # what the training loop calls each epoch
    assert loader.batch_sampler.epoch == 3
    for batch in loader:
        mask = batch["inputs"]["attention_mask"]
        assert mask[:, -1].any() and batch["inputs"]["input_ids"].shape == mask.shape


def test_unlabelled_sentences_carry_no_labels():
    data = token_data(8)
    sample = TokenDataset(data.tokens)[3]
    assert set(sample) == {"inputs", "index"} and sample["index"] == 3

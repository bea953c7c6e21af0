"""with_index: a user's dataset gains sample ids that a plain DataLoader collates into batch['index']."""

import pytest
import torch
from torch.utils.data import DataLoader, Dataset, IterableDataset, TensorDataset

import kdistill
from kdistill.batch import as_batch
from kdistill.errors import ConfigError


def test_pairs_become_contract_dicts_with_their_positions():
    x, y = torch.randn(10, 3), torch.arange(10) % 2
    loader = DataLoader(kdistill.with_index(TensorDataset(x, y)), batch_size=4, shuffle=True,
                        generator=torch.Generator().manual_seed(0))
    seen = []
    for raw in loader:
        batch = as_batch(raw)
        assert batch["index"].dtype == torch.int64
        torch.testing.assert_close(batch["inputs"], x[batch["index"]])  # the id addresses the sample it came with
        torch.testing.assert_close(batch["labels"], y[batch["index"]])
        seen += batch["index"].tolist()
    assert sorted(seen) == list(range(10))


class TokenDicts(Dataset):
    def __len__(self):
        return 6

    def __getitem__(self, i):
        return {"input_ids": torch.full((4,), i), "attention_mask": torch.ones(4), "label": i % 2}


def test_hugging_face_style_samples_keep_their_keys_and_gain_index():
    batch = as_batch(next(iter(DataLoader(kdistill.with_index(TokenDicts()), batch_size=3))))
    assert set(batch["inputs"]) == {"input_ids", "attention_mask"}
    assert batch["index"].tolist() == [0, 1, 2] and batch["labels"].tolist() == [0, 1, 0]


def test_unlabelled_samples_become_inputs_with_index():
    batch = next(iter(DataLoader(kdistill.with_index(TensorDataset(torch.randn(5, 2))), batch_size=5)))
    assert set(batch) == {"inputs", "index"} and batch["inputs"].shape == (5, 2)
    assert len(kdistill.IndexedDataset(TensorDataset(torch.randn(5, 2)))) == 5


class Stream(IterableDataset):
    def __iter__(self):
        yield from range(3)


class AlreadyIndexed(TokenDicts):
    def __getitem__(self, i):
        return {**super().__getitem__(i), "index": i}


def test_misuse_is_a_one_line_config_error():
    loader = DataLoader(TensorDataset(torch.randn(4, 2)))
    with pytest.raises(ConfigError, match=r"wraps a dataset, not a DataLoader"):
        kdistill.with_index(loader)
    with pytest.raises(ConfigError, match="map-style dataset"):
        kdistill.with_index(Stream())
    with pytest.raises(ConfigError, match="already carry 'index'"):
        kdistill.with_index(AlreadyIndexed())[0]

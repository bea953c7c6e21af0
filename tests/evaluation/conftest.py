import pytest
import torch
from torch import nn


class DictInputClassifier(nn.Module):
    """Takes keyword tensors like a text model: mean-pooled embeddings -> linear head."""

    def __init__(self, vocab_size=20, dim=8, num_classes=3):
        super().__init__()
        self.embed = nn.Embedding(vocab_size, dim)
        self.head = nn.Linear(dim, num_classes)

    def forward(self, input_ids, attention_mask):
        mask = attention_mask.unsqueeze(-1).float()  # (B, T, 1)
        pooled = (self.embed(input_ids) * mask).sum(1) / mask.sum(1).clamp(min=1)  # (B, D)
        return self.head(pooled)  # (B, C)


@pytest.fixture
def mlp():
    torch.manual_seed(0)
    return nn.Sequential(nn.Linear(784, 100), nn.ReLU(), nn.Linear(100, 10))


@pytest.fixture
def dict_model():
    torch.manual_seed(0)
    return DictInputClassifier()


@pytest.fixture
def dict_inputs():
    generator = torch.Generator().manual_seed(0)
    return {
        "input_ids": torch.randint(0, 20, (4, 6), generator=generator),
        "attention_mask": torch.ones(4, 6, dtype=torch.long),
    }

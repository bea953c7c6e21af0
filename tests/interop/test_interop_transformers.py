"""Hugging Face models as teachers and students, fed by a plain DataLoader of Hugging Face-style dicts.

Models are built from tiny random ``BertConfig``s in code: nothing is downloaded (HF_HUB_OFFLINE=1). The task is
learnable from tokens alone: label = whether token ``MARK`` occurs in the (padded) sequence.
"""

import os

import pytest

os.environ.setdefault("HF_HUB_OFFLINE", "1")
transformers = pytest.importorskip("transformers")

import torch  # noqa: E402
from torch.utils.data import DataLoader, Dataset  # noqa: E402

import kdistill  # noqa: E402
from kdistill.batch import as_batch, forward_model  # noqa: E402
from kdistill.features import FeatureTaps  # noqa: E402

VOCAB, LENGTH, CLS, PAD, MARK = 16, 8, 1, 0, 5


class MarkTask(Dataset):
    """``{"input_ids" (T,), "attention_mask" (T,), "labels" ()}``; half the samples contain MARK once."""

    def __init__(self, size: int, seed: int):
        generator = torch.Generator().manual_seed(seed)
        ids = torch.randint(MARK + 1, VOCAB, (size, LENGTH), generator=generator)  # ordinary tokens: never MARK
        ids[:, 0] = CLS
        lengths = torch.randint(4, LENGTH + 1, (size,), generator=generator)
        self.mask = (torch.arange(LENGTH) < lengths[:, None]).long()  # (N, T), variable lengths
        self.labels = torch.arange(size) % 2
        where = 1 + (torch.rand(size, generator=generator) * (lengths - 1)).long()  # a real, non-CLS position
        positive = self.labels == 1
        ids[positive, where[positive]] = MARK
        self.ids = ids.masked_fill(self.mask == 0, PAD)

    def __len__(self) -> int:
        return len(self.labels)

    def __getitem__(self, i: int) -> dict:
        return {"input_ids": self.ids[i], "attention_mask": self.mask[i], "labels": self.labels[i]}


def bert(hidden: int, layers: int, seed: int, **config):
    torch.manual_seed(seed)
    settings = dict(vocab_size=VOCAB, hidden_size=hidden, num_hidden_layers=layers, num_attention_heads=2,
                    intermediate_size=2 * hidden, max_position_embeddings=LENGTH, num_labels=2,
                    hidden_dropout_prob=0.0, attention_probs_dropout_prob=0.0)
    return transformers.BertForSequenceClassification(transformers.BertConfig(**{**settings, **config}))


def loaders(size=1024, batch_size=32):
    train = DataLoader(MarkTask(size, 0), batch_size=batch_size, shuffle=True,
                       generator=torch.Generator().manual_seed(0))
    return train, DataLoader(MarkTask(256, 1), batch_size=64)


@pytest.fixture(scope="module")
def trained_teacher():
    train, val = loaders()
    teacher = bert(hidden=32, layers=2, seed=0)
    kdistill.fit(teacher, train, val, epochs=4, lr=3e-3, optimizer="adam")
    return teacher


@pytest.mark.slow
def test_fit_trains_a_bert_classifier_on_hugging_face_style_batches(trained_teacher):
    _, val = loaders()
    assert kdistill.evaluate(trained_teacher, val)["accuracy"] > 0.95


@pytest.mark.slow
def test_distill_bert_into_a_smaller_bert(trained_teacher):
    # Settings checked over 10 (shuffle, student init) seeds: the loss ratio stayed below 0.15, agreement reached 1.0.
    train, val = loaders(batch_size=16)
    student = bert(hidden=16, layers=2, seed=1)
    assert sum(p.numel() for p in student.parameters()) < sum(p.numel() for p in trained_teacher.parameters()) / 3
    before = kdistill.evaluate(student, val, teacher=trained_teacher)["agreement"]
    result = kdistill.distill(trained_teacher, student, train, val, epochs=2, lr=5e-3, optimizer="adam",
                              temperature=2.0, ce_weight=0.0, kd_weight=1.0)
    after = kdistill.evaluate(student, val, teacher=trained_teacher)["agreement"]
    losses = [record["train_loss"] for record in result.history]
    assert losses[1] < 0.5 * losses[0]
    assert after > 0.9 and after > before + 0.2


def test_a_tuple_returning_bert_trains_and_never_sees_the_labels():
    # With return_dict=False a BERT given labels would return (loss, logits): the logits must come from a call
    # without labels, or the first item would be the scalar loss and training would stop on its shape.
    train, _ = loaders(128)
    model = bert(hidden=16, layers=1, seed=0, return_dict=False)
    batch = as_batch(next(iter(train)))
    assert isinstance(model(**batch["inputs"]), tuple)
    assert forward_model(model, batch).shape == (32, 2)
    result = kdistill.fit(model, train, epochs=1, lr=1e-3, optimizer="adam")
    assert len(result.history) == 1


def test_feature_taps_read_bert_layers_by_name():
    model = bert(hidden=16, layers=2, seed=0)
    batch = as_batch(next(iter(DataLoader(MarkTask(8, 0), batch_size=8))))
    names = ["bert.encoder.layer.0", "bert.encoder.layer.1.attention", "bert", "bert.pooler"]
    with FeatureTaps(model, names) as taps:
        logits = forward_model(model, batch)
        features = taps.read()
    assert logits.shape == (8, 2)
    assert features["bert.encoder.layer.0"].shape == (8, LENGTH, 16)  # (B, T, H) hidden states
    assert features["bert.encoder.layer.1.attention"].shape == (8, LENGTH, 16)  # a tuple output: its first item
    assert features["bert"].shape == (8, LENGTH, 16)  # a ModelOutput: last_hidden_state
    assert features["bert.pooler"].shape == (8, 16)


def test_a_feature_method_distils_between_bert_layers():
    train, _ = loaders(128)
    teacher, student = bert(hidden=32, layers=2, seed=0), bert(hidden=16, layers=1, seed=1)
    result = kdistill.distill(teacher, student, DataLoader(kdistill.with_index(train.dataset), batch_size=32),
                              method="crd", layers=[["bert.pooler", "bert.pooler"]], embed_dim=8, nce_k=32,
                              epochs=1, lr=1e-3, optimizer="adam")
    assert "train_crd" in result.history[0]

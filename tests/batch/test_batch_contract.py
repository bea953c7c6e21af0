"""What a user's DataLoader may yield and what a model may return: every accepted form, and one-line errors else."""

from collections import OrderedDict
from dataclasses import dataclass

import pytest
import torch
from torch import nn

from kdistill.batch import BATCH_KEYS, as_batch, batch_size, forward_model, move_batch, require_index
from kdistill.errors import ShapeError
from kdistill.outputs import logits_of


def one_line(error: pytest.ExceptionInfo) -> str:
    message = str(error.value)
    assert "\n" not in message
    return message


# ---- as_batch -------------------------------------------------------------------------------------------------------


def test_contract_dicts_and_pairs_keep_working():
    inputs, labels, index = torch.randn(4, 3), torch.arange(4), torch.arange(4)
    batch = as_batch({"inputs": inputs, "labels": labels, "index": index})
    assert batch["inputs"] is inputs and batch["labels"] is labels and batch["index"] is index
    pair = as_batch([inputs, labels])  # what DataLoader(TensorDataset(x, y)) yields
    assert pair["inputs"] is inputs and pair["labels"] is labels
    kwargs = {"input_ids": torch.zeros(4, 5, dtype=torch.long)}
    assert as_batch({"inputs": kwargs, "labels": labels})["inputs"] is kwargs


def test_hugging_face_style_dict_becomes_model_kwargs_plus_batch_keys():
    ids, mask, types = torch.ones(4, 6, dtype=torch.long), torch.ones(4, 6), torch.zeros(4, 6, dtype=torch.long)
    labels, index, shift = torch.arange(4), torch.arange(4), torch.zeros(4, 2)
    raw = {"input_ids": ids, "attention_mask": mask, "token_type_ids": types, "labels": labels, "index": index,
           "shift": shift, "text": ["a", "b", "c", "d"]}
    batch = as_batch(raw)
    assert batch["inputs"] == {"input_ids": ids, "attention_mask": mask, "token_type_ids": types}
    assert batch["labels"] is labels and batch["index"] is index and batch["shift"] is shift
    assert batch["text"] == ["a", "b", "c", "d"]  # raw strings a collator left in stay out of the model
    assert batch_size(batch) == 4


def test_every_batch_key_stays_out_of_the_model_kwargs():
    raw = {key: torch.zeros(3) for key in BATCH_KEYS - {"inputs", "label"}}
    raw["pixel_values"] = torch.zeros(3, 1, 2, 2)
    batch = as_batch(raw)
    assert set(batch["inputs"]) == {"pixel_values"}
    assert set(batch) == (BATCH_KEYS - {"label"}) | {"inputs"}


def test_a_label_column_is_renamed_labels():
    labels = torch.arange(2)
    assert as_batch({"input_ids": torch.ones(2, 3), "label": labels})["labels"] is labels
    assert "label" not in as_batch({"input_ids": torch.ones(2, 3), "label": labels})
    assert as_batch({"inputs": torch.ones(2, 3), "label": labels})["labels"] is labels
    with pytest.raises(ShapeError, match="both 'label' and 'labels'"):
        as_batch({"input_ids": torch.ones(2, 3), "label": labels, "labels": labels})


@pytest.mark.parametrize("raw", [{"labels": torch.arange(2), "index": torch.arange(2)}, {"text": ["a", "b"]}, {}])
def test_a_dict_without_inputs_or_model_tensors_is_a_one_line_error_listing_its_keys(raw):
    with pytest.raises(ShapeError) as error:
        as_batch(raw)
    message = one_line(error)
    assert f"got keys {sorted(raw)}" in message and "input_ids" in message and "(inputs, labels) pair" in message


@pytest.mark.parametrize("raw", [torch.randn(2, 3), "ab", (torch.randn(2, 3),), 3])
def test_other_batches_are_a_one_line_error(raw):
    with pytest.raises(ShapeError) as error:
        as_batch(raw)
    assert type(raw).__name__ in one_line(error)


def test_move_batch_moves_nested_model_kwargs():
    batch = move_batch(as_batch({"input_ids": torch.ones(2, 3), "labels": torch.arange(2)}), "meta")
    assert batch["inputs"]["input_ids"].device.type == "meta" and batch["labels"].device.type == "meta"


# ---- forward_model: kwargs in, logits out, labels never in ----------------------------------------------------------


class KeywordModel(nn.Module):
    """Records the keyword arguments it was called with; returns (B, 2) logits."""

    def __init__(self):
        super().__init__()
        self.seen: list[set[str]] = []

    def forward(self, input_ids, attention_mask=None, labels=None, **other):
        self.seen.append({"input_ids", *other, *(["attention_mask"] if attention_mask is not None else []),
                          *(["labels"] if labels is not None else [])})
        return torch.zeros(input_ids.shape[0], 2)


def test_forward_model_passes_model_kwargs_but_never_labels_or_index():
    model = KeywordModel()
    raw = {"input_ids": torch.ones(3, 4, dtype=torch.long), "attention_mask": torch.ones(3, 4),
           "labels": torch.arange(3), "index": torch.arange(3)}
    logits = forward_model(model, as_batch(raw))
    assert logits.shape == (3, 2)
    assert model.seen == [{"input_ids", "attention_mask"}]


# ---- logits_of ------------------------------------------------------------------------------------------------------


@dataclass
class OutputWithLogits:  # the shape of a Hugging Face ModelOutput, seen as an object
    logits: torch.Tensor
    hidden_states: tuple = ()


def test_logits_of_accepts_tensors_tuples_and_logits_attributes_and_keys():
    logits = torch.randn(2, 3)
    assert logits_of(logits) is logits
    assert logits_of((logits, torch.randn(2, 8))) is logits
    assert logits_of([logits]) is logits
    assert logits_of({"logits": logits, "features": torch.randn(2, 8)}) is logits
    assert logits_of(OrderedDict(loss=None, logits=logits)) is logits
    assert logits_of(OutputWithLogits(logits)) is logits


@pytest.mark.parametrize("output, named", [
    ({"scores": torch.randn(2, 3)}, "['scores']"),
    (None, "NoneType"),
    ((), "tuple[0] is NoneType"),
    (("not", "tensors"), "tuple[0] is str"),
    (OutputWithLogits(logits="oops"), "OutputWithLogits.logits is str"),
    ({"logits": [1.0, 2.0]}, "dict['logits'] is list"),
])
def test_logits_of_anything_else_is_a_one_line_shape_error(output, named):
    with pytest.raises(ShapeError) as error:
        logits_of(output)
    message = one_line(error)
    assert named in message and ".logits" in message and "tuple/list" in message


def test_require_index_names_the_adapter():
    index = torch.arange(3)
    assert require_index({"index": index}, "crd") is index
    with pytest.raises(ShapeError) as error:
        require_index({"inputs": torch.randn(3, 2)}, "method 'crd'")
    assert "method 'crd'" in one_line(error) and "kdistill.with_index(dataset)" in one_line(error)

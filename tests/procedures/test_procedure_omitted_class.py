"""Omitted class: no example of the class ever reaches the student; the bias fit uses no label of that class."""

import pytest
import torch
from procedure_settings import MLP, TRAIN

from kdistill.errors import DataError
from kdistill.procedures import omitted_class
from kdistill.procedures.omitted_class import (
    ClassFreeBatches, LogitBias, class_bias, fit_class_bias, omitted_class_experiment, remove_classes,
)


def test_no_batch_fed_to_the_student_holds_the_omitted_class(digit_splits, monkeypatch):
    seen = []
    real_distill = omitted_class.distill_model

    class Recording:
        def __init__(self, batches):
            self.batches = batches

        def __len__(self):
            return len(self.batches)

        def set_epoch(self, epoch):
            self.batches.set_epoch(epoch)

        def __iter__(self):
            for batch in self.batches:
                seen.append(batch["labels"].clone())
                yield batch

    def spy(teacher, student, batches, *args, **kwargs):
        return real_distill(teacher, student, Recording(batches), *args, **kwargs)

    monkeypatch.setattr(omitted_class, "distill_model", spy)
    result = omitted_class_experiment(digit_splits, omitted=[3], teacher_model=MLP, student_model=MLP,
                                      train=TRAIN, bias=3.5)
    labels = torch.cat(seen)
    assert len(labels) > 0 and not bool((labels == 3).any())
    assert set(labels.tolist()) == set(range(10)) - {3}
    for key in ("student_class_accuracy", "given_bias_class_accuracy", "fitted_bias_class_accuracy"):
        assert 0.0 <= result[key] <= 1.0
    assert result["given_bias"] == 3.5 and result["fitted_bias"] >= 0


def test_class_free_batches_raise_when_the_class_slips_in():
    batches = [{"inputs": torch.zeros(2, 1, 2, 2), "labels": torch.tensor([1, 2])},
               {"inputs": torch.zeros(2, 1, 2, 2), "labels": torch.tensor([3, 2])}]
    guarded = ClassFreeBatches(batches, [3])
    with pytest.raises(DataError, match="omitted"):
        list(guarded)
    assert guarded.seen_labels == 2


def test_remove_classes_drops_every_example():
    images, labels = torch.arange(6.0).view(6, 1, 1, 1), torch.tensor([0, 3, 1, 3, 2, 4])
    kept_x, kept_y = remove_classes(images, labels, [3, 4])
    assert kept_y.tolist() == [0, 1, 2] and kept_x.flatten().tolist() == [0.0, 2.0, 4.0]


def test_fitted_bias_makes_the_class_predicted_at_the_prior_rate():
    generator = torch.Generator().manual_seed(0)
    logits = torch.randn(1000, 10, generator=generator)
    logits[:, 3] -= 4.0  # the student rarely predicts the omitted class
    bias = fit_class_bias(logits, [3], 0.1)
    predicted = (logits + class_bias(10, [3], bias)).argmax(-1)
    assert bias > 2.0 and (predicted == 3).double().mean().item() == pytest.approx(0.1, abs=0.005)


def test_logit_bias_adds_to_the_chosen_class_only():
    model = torch.nn.Identity()
    shifted = LogitBias(model, class_bias(4, [2], 1.5))
    assert shifted(torch.zeros(1, 4)).tolist() == [[0.0, 0.0, 1.5, 0.0]]

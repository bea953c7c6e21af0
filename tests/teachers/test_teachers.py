"""Teachers own their frozenness; ensembles and class subsets give the distributions they promise."""

import pytest
import torch
from torch import nn

from kdistill.teachers import ClassSubsetTeacher, EnsembleTeacher, FrozenTeacher, PrecomputedTeacher


def linear_teacher(seed, in_features=6, num_classes=5, scale=2.0):
    torch.manual_seed(seed)
    model = nn.Linear(in_features, num_classes)
    with torch.no_grad():
        model.weight.mul_(scale)
    return FrozenTeacher(model)


def batch_of(rows=4, in_features=6, seed=0):
    return {"inputs": torch.randn(rows, in_features, generator=torch.Generator().manual_seed(seed))}


def float64_softmax(logits, temperature):
    """softmax(z / T) over the last dim, written out in float64."""
    scaled = logits.double() / temperature
    exps = (scaled - scaled.max(-1, keepdim=True).values).exp()
    return exps / exps.sum(-1, keepdim=True)


class Parent(nn.Module):
    def __init__(self, teacher):
        super().__init__()
        self.student = nn.Sequential(nn.Linear(6, 5), nn.Dropout(0.5))
        self.teacher = teacher


def dropout_teacher():
    torch.manual_seed(0)
    return FrozenTeacher(nn.Sequential(nn.Linear(6, 32), nn.Dropout(0.5), nn.Linear(32, 5)))


def test_frozen_teacher_stays_in_eval_when_parent_calls_train():
    teacher = dropout_teacher()
    parent = Parent(teacher)
    parent.train()
    assert parent.student.training
    assert not teacher.training
    assert not any(module.training for module in teacher.modules())
    batch = batch_of(16)
    torch.testing.assert_close(teacher(batch), teacher(batch), rtol=0, atol=0)
    # the comparison is meaningful: the same network in train mode gives different outputs twice
    raw = teacher.model
    nn.Module.train(raw, True)
    assert not torch.equal(raw(batch["inputs"]), raw(batch["inputs"]))


def test_frozen_teacher_has_no_trainable_parameters_and_no_graph():
    teacher = dropout_teacher()
    assert all(not parameter.requires_grad for parameter in teacher.parameters())
    inputs = torch.randn(3, 6, requires_grad=True)  # e.g. inputs produced by a trainable module
    student = nn.Linear(6, 5)
    logits = teacher({"inputs": inputs})
    assert logits.grad_fn is None and not logits.requires_grad
    loss = ((student(inputs) - logits) ** 2).sum()
    loss.backward()
    assert all(parameter.grad is None for parameter in teacher.parameters())
    assert student.weight.grad is not None


def test_frozen_teacher_reads_num_classes_and_accepts_dict_inputs():
    class KeywordModel(nn.Module):
        def __init__(self):
            super().__init__()
            self.head = nn.Linear(6, 3)

        def forward(self, features, scale):
            return self.head(features) * scale

    teacher = FrozenTeacher(KeywordModel())
    assert teacher.num_classes is None
    output = teacher({"inputs": {"features": torch.ones(2, 6), "scale": 2.0}})
    assert output.shape == (2, 3) and teacher.num_classes == 3


@pytest.mark.parametrize("temperature", [1.0, 4.0])
@pytest.mark.parametrize("weights", [None, [1.0, 3.0, 0.5]])
def test_ensemble_probs_mode_averages_tempered_probabilities(temperature, weights):
    members = [linear_teacher(seed) for seed in range(3)]
    ensemble = EnsembleTeacher(members, combine="probs", temperature=temperature, weights=weights)
    batch = batch_of()
    member_logits = [member.model(batch["inputs"]).detach() for member in members]
    w = [1.0] * 3 if weights is None else weights
    expected = sum(wi * float64_softmax(z, temperature) for wi, z in zip(w, member_logits)) / sum(w)
    result = float64_softmax(ensemble(batch), temperature)
    torch.testing.assert_close(result, expected, rtol=1e-5, atol=1e-6)
    assert ensemble(batch).grad_fn is None


def test_ensemble_probs_mode_is_not_the_logit_mean():
    members = [linear_teacher(seed, scale=5.0) for seed in range(2)]
    batch = batch_of()
    probs = EnsembleTeacher(members, combine="probs", temperature=1.0)(batch)
    logits = EnsembleTeacher(members, combine="logits")(batch)
    assert not torch.allclose(float64_softmax(probs, 1.0), float64_softmax(logits, 1.0), atol=1e-3)


def test_ensemble_logits_mode_is_weighted_mean_of_logits():
    members = [linear_teacher(seed) for seed in range(3)]
    weights = [2.0, 1.0, 1.0]
    ensemble = EnsembleTeacher(members, combine="logits", weights=weights)
    batch = batch_of()
    member_logits = [member.model(batch["inputs"]).detach().double() for member in members]
    expected = (2.0 * member_logits[0] + member_logits[1] + member_logits[2]) / 4.0
    torch.testing.assert_close(ensemble(batch).double(), expected, rtol=1e-5, atol=1e-6)


@pytest.mark.parametrize("kwargs", [{"combine": "median"}, {"weights": [1.0]}, {"weights": [-1.0, 2.0]}])
def test_ensemble_rejects_bad_arguments(kwargs):
    with pytest.raises(ValueError):
        EnsembleTeacher([linear_teacher(0), linear_teacher(1)], **kwargs)
    with pytest.raises(ValueError):
        EnsembleTeacher([])


def test_ensemble_members_stay_frozen_inside_a_training_parent():
    members = [dropout_teacher(), dropout_teacher()]
    parent = Parent(EnsembleTeacher(members))
    parent.train()
    assert not any(module.training for module in parent.teacher.modules())


@pytest.mark.parametrize("temperature", [1.0, 3.0])
def test_class_subset_is_renormalised_restriction_of_full_distribution(temperature):
    full = linear_teacher(0, num_classes=10)
    classes = [7, 2, 5]
    subset = ClassSubsetTeacher(full, classes)
    batch = batch_of()
    output = subset(batch)
    assert output.shape == (4, 3) and subset.num_classes == 3
    probabilities = float64_softmax(output, temperature)
    torch.testing.assert_close(probabilities.sum(-1), torch.ones(4, dtype=torch.float64))
    full_probabilities = float64_softmax(full.model(batch["inputs"]).detach(), temperature)
    restricted = full_probabilities[:, classes]
    torch.testing.assert_close(probabilities, restricted / restricted.sum(-1, keepdim=True), rtol=1e-5, atol=1e-7)


def test_class_subset_rejects_repeats_and_out_of_range_classes():
    with pytest.raises(ValueError):
        ClassSubsetTeacher(linear_teacher(0), [1, 1])
    with pytest.raises(ValueError):
        ClassSubsetTeacher(linear_teacher(0), [])
    with pytest.raises(ValueError, match="out of range"):
        ClassSubsetTeacher(linear_teacher(0, num_classes=5), [1, 9])(batch_of())


def test_precomputed_teacher_reads_the_batch_key_without_grad():
    stored = torch.randn(4, 5, requires_grad=True)
    teacher = PrecomputedTeacher(key="soft")
    output = teacher({"inputs": torch.zeros(4, 6), "soft": stored})
    torch.testing.assert_close(output, stored.detach())
    assert output.grad_fn is None


def test_precomputed_teacher_missing_key_names_it():
    with pytest.raises(KeyError, match="teacher_logits"):
        PrecomputedTeacher()({"inputs": torch.zeros(2, 3), "labels": torch.zeros(2)})

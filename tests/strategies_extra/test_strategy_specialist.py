"""Class-specialised KD: targets are the teacher's probabilities renormalised over the subset at T."""

import pytest
import torch
from torch import nn

from kdistill.errors import ShapeError
from kdistill.strategies import build_strategy
from kdistill.strategies.specialist import specialist_targets, subset_positions
from kdistill.teachers import FrozenTeacher

CLASSES = [7, 2, 5]


def teacher_and_batch():
    torch.manual_seed(0)
    teacher_model = nn.Sequential(nn.Flatten(), nn.Linear(16, 10))
    inputs = torch.randn(8, 1, 4, 4)
    labels = torch.tensor(CLASSES * 3)[:8]
    return teacher_model, {"inputs": inputs, "labels": labels}


def test_targets_sum_to_one_over_the_subset_and_equal_renormalised_teacher_probs():
    teacher_model, batch = teacher_and_batch()
    strategy = build_strategy("specialist", teacher=FrozenTeacher(teacher_model), classes=CLASSES, temperature=3.0)
    targets = strategy.soft_targets(batch)  # (B, 3)
    assert targets.shape == (8, 3)
    torch.testing.assert_close(targets.sum(-1), torch.ones(8))
    full = torch.softmax(teacher_model(batch["inputs"]).detach().double() / 3.0, -1)  # (B, 10)
    reference = full[:, CLASSES] / full[:, CLASSES].sum(-1, keepdim=True)
    torch.testing.assert_close(targets.double(), reference, rtol=1e-5, atol=1e-6)
    torch.testing.assert_close(specialist_targets(teacher_model(batch["inputs"]).detach(), CLASSES, 3.0).double(),
                               reference, rtol=1e-5, atol=1e-6)


def test_labels_map_to_subset_positions_and_outsiders_are_refused():
    assert subset_positions(torch.tensor([5, 7, 2]), torch.tensor(CLASSES)).tolist() == [2, 0, 1]
    with pytest.raises(ShapeError, match="\\[3\\]"):
        subset_positions(torch.tensor([5, 3]), torch.tensor(CLASSES))


def test_step_uses_subset_positions_for_ce_and_needs_a_subset_sized_student():
    teacher_model, batch = teacher_and_batch()
    strategy = build_strategy("specialist", teacher=FrozenTeacher(teacher_model), classes=CLASSES, ce_weight=1.0,
                              kd_weight=0.0)
    torch.manual_seed(1)
    student = nn.Sequential(nn.Flatten(), nn.Linear(16, 3))
    step = strategy(batch, student)
    positions = subset_positions(batch["labels"], torch.tensor(CLASSES))
    expected = nn.functional.cross_entropy(student(batch["inputs"]).detach().double(), positions)
    assert step["loss"].item() == pytest.approx(float(expected), rel=1e-5)
    with pytest.raises(ShapeError, match="len\\(classes\\)"):
        strategy(batch, nn.Sequential(nn.Flatten(), nn.Linear(16, 10)))

"""The tinybert and sentence-embedding methods on tiny random BERTs: terms, masks, stages, errors, a 2-step run."""

import copy

import pytest
import torch
from text_helpers import tiny_bert

import kdistill
from kdistill.errors import ConfigError
from kdistill.models.hf_student import student_from_teacher
from kdistill.models.hf_text import MeanPooledEncoder
from kdistill.strategies import build_strategy
from kdistill.teachers import FrozenTeacher
from kdistill.text.dataset import TokenDataset, text_loader


def first_batch(data, size=16):
    return next(iter(text_loader(data, size, shuffle=False)))


def test_every_term_is_reported_and_the_total_is_their_weighted_sum(data):
    teacher = tiny_bert(layers=4)
    student = student_from_teacher(teacher, num_layers=2, init="scratch")
    strategy = build_strategy("tinybert", teacher=FrozenTeacher(teacher), context={"student": student},
                              embedding_weight=0.5, hidden_weight=2.0, attention_weight=3.0, kd_weight=4.0,
                              ce_weight=1.0)
    step = strategy(first_batch(data), student)
    expected = 0.5 * step["embedding"] + 2 * step["hidden"] + 3 * step["attention"] + 4 * step["kd"] + step["ce"]
    assert step["loss"].item() == pytest.approx(expected.item(), rel=1e-5)
    assert all(step[term] > 0 for term in ("embedding", "hidden", "attention", "kd"))


def test_a_student_identical_to_the_teacher_has_zero_intermediate_loss(data):
    teacher = tiny_bert(layers=2)
    step = build_strategy("tinybert", teacher=FrozenTeacher(teacher), context={"student": copy.deepcopy(teacher)})(
        first_batch(data), copy.deepcopy(teacher).eval())
    for term in ("embedding", "hidden", "attention", "kd"):
        assert step[term].item() == pytest.approx(0.0, abs=1e-6), term


def test_padding_tokens_never_change_the_loss(data):
    teacher = tiny_bert(layers=4)
    student = student_from_teacher(teacher, num_layers=2, init="scratch").eval()
    strategy = build_strategy("tinybert", teacher=FrozenTeacher(teacher), context={"student": student},
                              attention_target="probs")
    batch = first_batch(data)
    mask = batch["inputs"]["attention_mask"]
    assert bool(mask.eq(0).any())
    other = {**batch, "inputs": {**batch["inputs"], "input_ids": batch["inputs"]["input_ids"].masked_fill(mask == 0, 9)}}
    with torch.no_grad():
        first, second = strategy(batch, student), strategy(other, student)
    for term in ("loss", "embedding", "hidden", "attention", "kd"):
        assert first[term].item() == pytest.approx(second[term].item(), rel=1e-4, abs=1e-6), term


def test_general_stage_trains_intermediate_layers_only(data):
    teacher = tiny_bert(layers=4)
    student = student_from_teacher(teacher, num_layers=2, init="scratch")
    step = build_strategy("tinybert", teacher=FrozenTeacher(teacher), context={"student": student},
                          stage="general")(first_batch(data), student)
    assert "kd" not in step and "ce" not in step
    assert step["loss"].item() == pytest.approx((step["embedding"] + step["hidden"] + step["attention"]).item(),
                                                rel=1e-5)


def test_zero_weight_terms_are_not_computed(data):
    teacher = tiny_bert(layers=4)
    student = student_from_teacher(teacher, num_layers=2)
    strategy = build_strategy("tinybert", teacher=FrozenTeacher(teacher), context={"student": student},
                              attention_weight=0.0, embedding_weight=0.0)
    assert all("attention.self" not in name for name, _ in strategy.taps)
    assert "attention" not in strategy(first_batch(data), student)


@pytest.mark.parametrize("args, message", [
    ({"layers": [[3, 1]]}, "out of range"),
    ({"stage": "general", "embedding_weight": 0, "hidden_weight": 0, "attention_weight": 0}, "all 0"),
])
def test_bad_arguments_fail_at_build_time(args, message):
    teacher = tiny_bert(layers=4)
    with pytest.raises(ConfigError, match=message):
        build_strategy("tinybert", teacher=FrozenTeacher(teacher), context={"student": tiny_bert(layers=2)}, **args)


def test_a_student_with_other_head_counts_needs_mean_heads(data):
    teacher, student = tiny_bert(layers=4, heads=4), tiny_bert(layers=2, heads=2, seed=1)
    with pytest.raises(ConfigError, match="attention_heads: mean"):
        build_strategy("tinybert", teacher=FrozenTeacher(teacher), context={"student": student})
    strategy = build_strategy("tinybert", teacher=FrozenTeacher(teacher), context={"student": student},
                              attention_heads="mean")
    assert torch.isfinite(strategy(first_batch(data), student)["attention"])


def test_two_step_end_to_end_distillation_of_a_tiny_bert(data, tmp_path):
    teacher = tiny_bert(layers=4)
    student = student_from_teacher(teacher, num_layers=2, hidden=16, init="scratch")
    before = copy.deepcopy(student.state_dict())
    loader = text_loader(data, 24, seed=0)  # 48 sentences: 2 steps
    result = kdistill.distill(teacher, student, loader, text_loader(data, 24, shuffle=False), method="tinybert",
                              epochs=1, lr=1e-3, optimizer="adamw", run_dir=tmp_path, verbose=False)
    assert len(loader) == 2 and result.history[0]["train_hidden"] > 0
    assert any(not torch.equal(before[k], v) for k, v in student.state_dict().items())
    assert (tmp_path / "student.safetensors").exists()


def test_sentence_embedding_distillation_projects_and_lowers_the_loss(data):
    teacher = MeanPooledEncoder(tiny_bert(layers=2, hidden=32).bert)
    student = MeanPooledEncoder(student_from_teacher(tiny_bert(layers=2), num_layers=1, hidden=16,
                                                     init="scratch").bert)
    unlabelled = TokenDataset(data.tokens)
    result = kdistill.distill(teacher, student, text_loader(unlabelled, 16, seed=0), method="sentence-embedding",
                              epochs=3, lr=3e-3, optimizer="adamw", verbose=False)
    losses = [record["train_loss"] for record in result.history]
    assert losses[-1] < losses[0]
    strategy = build_strategy("sentence-embedding", teacher=FrozenTeacher(teacher),
                              context={"student": student, "example_batch": first_batch(unlabelled)})
    assert strategy.projection.proj.weight.shape == (32, 16)

"""Every registered distillation method honours the step contract (registry-driven: new methods are covered)."""

import copy
import inspect
import math

import pytest
import torch
from torch import nn

from kdistill.errors import ConfigError
from kdistill.strategies import (
    STRATEGIES,
    MethodSpec,
    build_strategy,
    load_trainable_state,
    method_spec,
    trainable_state,
)
from kdistill.teachers import FrozenTeacher

NUM_CLASSES, BATCH, SEQUENCE = 4, 6, 8


class TinyConvNet(nn.Module):
    """Two named conv stages (feature methods tap them through FEATURE_LAYERS) and a linear head: (B, 1, 8, 8)."""

    FEATURE_LAYERS = ("stage1", "stage2")

    def __init__(self, width=4):
        super().__init__()
        self.stage1 = nn.Sequential(nn.Conv2d(1, width, 3, padding=1), nn.ReLU())  # (B, w, 8, 8)
        self.stage2 = nn.Sequential(nn.Conv2d(width, 2 * width, 3, padding=1, stride=2), nn.ReLU())  # (B, 2w, 4, 4)
        self.head = nn.Sequential(nn.AdaptiveAvgPool2d(1), nn.Flatten(), nn.Linear(2 * width, NUM_CLASSES))

    def forward(self, images):
        return self.head(self.stage2(self.stage1(images)))


def tiny_model(seed, width=4, models="any"):
    """The conv net, or for methods that need BERT-family encoders (spec ``models="bert"``) a tiny random BERT, or
    for language-model methods (``models="causal-lm"``) a tiny random Llama over NUM_CLASSES tokens."""
    torch.manual_seed(seed)
    if models == "causal-lm":
        transformers = pytest.importorskip("transformers")
        config = transformers.LlamaConfig(vocab_size=NUM_CLASSES, hidden_size=4 * width, num_hidden_layers=1,
                                          num_attention_heads=2, num_key_value_heads=1, intermediate_size=8 * width,
                                          max_position_embeddings=SEQUENCE, initializer_range=0.5)
        return transformers.LlamaForCausalLM(config)
    if models == "bert":
        transformers = pytest.importorskip("transformers")
        config = transformers.BertConfig(vocab_size=16, hidden_size=4 * width, num_hidden_layers=2,
                                         num_attention_heads=2, intermediate_size=8 * width, max_position_embeddings=8,
                                         num_labels=NUM_CLASSES, hidden_dropout_prob=0.0, initializer_range=0.5,
                                         attention_probs_dropout_prob=0.0)
        return transformers.BertForSequenceClassification(config)
    return TinyConvNet(width)


def tiny_batch(seed=0, models="any"):
    generator = torch.Generator().manual_seed(seed)
    labels = torch.randint(0, NUM_CLASSES, (BATCH,), generator=generator)
    if models == "causal-lm":  # next-token blocks: labels (B, T) = the ids shifted left, the last one ignored
        ids = torch.randint(0, NUM_CLASSES, (BATCH, SEQUENCE), generator=generator)
        labels = torch.cat([ids[:, 1:], torch.full((BATCH, 1), -100)], dim=1)
        return {"inputs": {"input_ids": ids}, "labels": labels, "index": torch.arange(BATCH)}
    if models == "bert":  # right-padded token ids of lengths 3..8
        mask = (torch.arange(8) < torch.randint(3, 9, (BATCH, 1), generator=generator)).long()
        inputs = {"input_ids": torch.randint(1, 16, (BATCH, 8), generator=generator) * mask, "attention_mask": mask}
    else:
        inputs = torch.randn(BATCH, 1, 8, 8, generator=generator)
    return {"inputs": inputs, "labels": labels, "index": torch.arange(BATCH)}


def kind(name):
    return method_spec(name).models


def build(name, student, teacher_model=None, **method_args):
    teacher = FrozenTeacher(teacher_model if teacher_model is not None else tiny_model(1, width=6, models=kind(name)))
    context = {"student": student, "example_batch": tiny_batch(models=kind(name)), "num_samples": 100}
    return build_strategy(name, teacher=teacher, context=context, **method_args)


@pytest.mark.parametrize("name", STRATEGIES.names())
def test_step_returns_finite_scalar_loss_and_student_output(name):
    student = tiny_model(0, models=kind(name))
    strategy = build(name, student)
    strategy.train()
    step = strategy(tiny_batch(models=kind(name)), student)
    assert {"loss", "output"} <= set(step)
    loss = step["loss"]
    assert loss.dim() == 0 and loss.requires_grad and math.isfinite(loss.item())
    expected = (BATCH, SEQUENCE, NUM_CLASSES) if kind(name) == "causal-lm" else (BATCH, NUM_CLASSES)
    assert step["output"].shape == expected
    for term, value in step.items():
        if term not in ("loss", "output"):
            assert isinstance(value, torch.Tensor) and value.dim() == 0 and math.isfinite(float(value)), term


@pytest.mark.parametrize("name", STRATEGIES.names())
def test_gradients_reach_student_never_teacher(name):
    student, teacher_model = tiny_model(0, models=kind(name)), tiny_model(1, width=6, models=kind(name))
    strategy = build(name, student, teacher_model)
    strategy(tiny_batch(models=kind(name)), student)["loss"].backward()
    for parameter_name, parameter in student.named_parameters():
        assert parameter.grad is not None and parameter.grad.abs().sum() > 0, parameter_name
    for parameter in strategy.parameters():
        if parameter.requires_grad:  # the method's own trainable parts (connectors, embeddings) learn too
            assert parameter.grad is not None
    for parameter in teacher_model.parameters():
        assert parameter.grad is None and not parameter.requires_grad


@pytest.mark.parametrize("name", STRATEGIES.names())
def test_unknown_method_argument_is_a_config_error_naming_it(name):
    with pytest.raises(ConfigError, match="bogus_weight"):
        build(name, tiny_model(0, models=kind(name)), bogus_weight=1.0)


@pytest.mark.parametrize("name", STRATEGIES.names())
def test_trainable_state_excludes_the_teacher(name):
    student = tiny_model(0, models=kind(name))
    strategy = build(name, student)
    state = trainable_state(strategy)
    teacher_keys = [key for key in strategy.state_dict() if key.startswith("teacher.")]
    assert not any(key in state for key in teacher_keys)
    load_trainable_state(strategy, state)  # round-trips without complaining about the missing teacher keys


def test_unknown_method_lists_the_registered_ones():
    with pytest.raises(ConfigError) as error:
        build_strategy("nope")
    for name in STRATEGIES.names():
        assert name in str(error.value)


@pytest.mark.parametrize("name", STRATEGIES.names())
def test_soft_target_term_is_zero_when_student_is_a_copy_of_teacher(name):
    accepted = inspect.signature(STRATEGIES.get(name)).parameters
    if "kd_weight" not in accepted:
        pytest.skip(f"{name} has no soft-target (kd) term")
    teacher_model = tiny_model(1, models=kind(name))
    student = copy.deepcopy(teacher_model)
    batch = tiny_batch(models=kind(name))
    step = build(name, student, teacher_model, kd_weight=1.0)(batch, student)
    assert abs(step["kd"].item()) < 1e-5
    other = tiny_model(2, models=kind(name))
    assert build(name, other, teacher_model, kd_weight=1.0)(batch, other)["kd"].item() > 1e-4


@pytest.mark.parametrize("soft_loss", ["kl", "mse"])
def test_hinton_loss_is_zero_when_student_is_a_copy_of_teacher(soft_loss):
    teacher_model = tiny_model(1)
    student = copy.deepcopy(teacher_model)
    strategy = build("hinton", student, teacher_model, ce_weight=0.0, kd_weight=1.0, temperature=4.0,
                     soft_loss=soft_loss)
    step = strategy(tiny_batch(), student)
    assert abs(float(step["kd"])) < 1e-6 and abs(step["loss"].item()) < 1e-6
    # and clearly non-zero for a different student
    other = tiny_model(2)
    assert float(strategy(tiny_batch(), other)["kd"]) > 1e-3


def test_hinton_step_is_weighted_ce_plus_kd():
    student = tiny_model(0)
    strategy = build("hinton", student, ce_weight=0.25, kd_weight=0.75, temperature=3.0)
    step = strategy(tiny_batch(), student)
    assert step["loss"].item() == pytest.approx(0.25 * float(step["ce"]) + 0.75 * float(step["kd"]), rel=1e-6)
    assert float(step["ce"]) > 0 and float(step["kd"]) > 0


def test_hinton_needs_a_teacher_and_a_known_soft_loss():
    with pytest.raises(ConfigError, match="teacher"):
        build_strategy("hinton")
    with pytest.raises(ConfigError, match="soft_loss"):
        build("hinton", tiny_model(0), soft_loss="l1")


def test_supervised_ignores_the_teacher():
    student = tiny_model(0)
    batch = tiny_batch()
    step_a = build("supervised", student, tiny_model(1))(batch, student)
    step_b = build("supervised", student, tiny_model(2))(batch, student)
    assert step_a["loss"].item() == step_b["loss"].item()
    expected = float(nn.functional.cross_entropy(student(batch["inputs"]).detach().double(), batch["labels"]))
    assert step_a["loss"].item() == pytest.approx(expected, rel=1e-5)


def test_build_strategy_passes_context_only_to_builders_that_declare_it(monkeypatch):
    received = {}

    def without_context(teacher=None, scale: float = 1.0):
        received["without"] = {"teacher": teacher, "scale": scale}
        return nn.Identity()

    def with_student(teacher=None, student=None, num_samples: int = 0):
        received["with"] = {"student": student, "num_samples": num_samples}
        return nn.Identity()

    without_context.spec = MethodSpec("test-without-context", without_context)
    with_student.spec = MethodSpec("test-with-student", with_student)
    monkeypatch.setitem(STRATEGIES._builders, "test-without-context", without_context)
    monkeypatch.setitem(STRATEGIES._builders, "test-with-student", with_student)
    student = tiny_model(0)
    context = {"student": student, "example_batch": tiny_batch(), "num_samples": 42}
    build_strategy("test-without-context", context=context, scale=2.0)
    assert received["without"] == {"teacher": None, "scale": 2.0}
    build_strategy("test-with-student", context=context)
    assert received["with"]["student"] is student and received["with"]["num_samples"] == 42


def test_recipe_cannot_set_context_arguments():
    with pytest.raises(ConfigError, match="student"):
        build_strategy("hinton", teacher=FrozenTeacher(tiny_model(1)), student=tiny_model(0))


class ScaledLogits(nn.Module):
    """A 'sequence model' whose logits (B, T, V) are its inputs times a learnable scale."""

    def __init__(self):
        super().__init__()
        self.scale = nn.Parameter(torch.tensor(1.0))

    def forward(self, inputs):
        return inputs * self.scale


@pytest.mark.parametrize("ce_weight", [0.0, 0.5])
def test_hinton_sequence_padding_never_counts(ce_weight):
    """Labels (B, T) with -100 mark padding; the KD term must ignore it whether or not hard labels are weighted."""
    from kdistill.teachers import PrecomputedTeacher

    generator = torch.Generator().manual_seed(0)
    student_logits = torch.randn(2, 4, 6, generator=generator)
    teacher_logits = torch.randn(2, 4, 6, generator=generator)
    labels = torch.randint(0, 6, (2, 4), generator=generator)
    labels[1, 2:] = -100
    strategy = build_strategy("hinton", teacher=PrecomputedTeacher(), ce_weight=ce_weight, kd_weight=1.0)
    student = ScaledLogits()
    clean = strategy({"inputs": student_logits, "teacher_logits": teacher_logits, "labels": labels}, student)
    noisy_inputs, noisy_teacher = student_logits.clone(), teacher_logits.clone()
    noisy_inputs[1, 2:] = 40.0 * torch.randn(2, 6, generator=generator)
    noisy_teacher[1, 2:] = -noisy_inputs[1, 2:]
    noisy = strategy({"inputs": noisy_inputs, "teacher_logits": noisy_teacher, "labels": labels}, student)
    assert noisy["kd"].item() == pytest.approx(clean["kd"].item(), rel=1e-5)
    assert noisy["loss"].item() == pytest.approx(clean["loss"].item(), rel=1e-5)

"""Registry-driven checks over every feature method (and DKD): finite, gradients, zero at a copy, checkpoints."""

import copy
import inspect

import pytest
import torch

from kdistill.data import ArrayLoader
from kdistill.errors import ConfigError, ShapeError
from kdistill.features import count_extra_parameters
from kdistill.models import build_model
from kdistill.strategies import STRATEGIES, build_strategy, load_trainable_state, trainable_state
from kdistill.strategies import method_spec, methods_where
from kdistill.teachers import EnsembleTeacher, FrozenTeacher
from kdistill.training import TrainConfig, train

INPUT_SHAPE = (1, 12, 12)  # the reference nets accept any H, W; small images keep the tests fast

# the vision feature methods (any network); text methods (models="bert") have their own tests in tests/text
METHODS = sorted(set(methods_where(reads_features=True, models="any")) | {"dkd"})
NOT_ZERO_AT_A_COPY = {"crd"}  # contrastive: its heads and banks start random, so a copy does not give zero
NUM_SAMPLES = 16


def build(method, teacher_model, student, batch, **method_args):
    context = {"student": student, "example_batch": batch, "num_samples": NUM_SAMPLES}
    return build_strategy(method, teacher=FrozenTeacher(teacher_model), context=context, **method_args)


def models(seed=0, teacher="wrn_16_2"):
    torch.manual_seed(seed)
    return build_model(teacher, INPUT_SHAPE, 10), build_model("resnet20", INPUT_SHAPE, 10)


def test_every_method_is_registered():
    assert {"fitnets", "at", "sp", "rkd", "pkt", "dkd", "crd"} <= set(STRATEGIES.names())
    assert {"fitnets", "at", "sp", "rkd", "pkt", "crd"} <= set(methods_where(reads_features=True))


@pytest.mark.parametrize("method", METHODS)
def test_loss_is_finite_and_follows_the_step_contract(method, batch):
    teacher, student = models()
    strategy = build(method, teacher, student, batch, kd_weight=0.5)
    step = strategy(batch, student)
    assert step["loss"].dim() == 0 and torch.isfinite(step["loss"])
    assert step["output"].shape == (8, 10)
    terms = {k: v for k, v in step.items() if k not in ("loss", "output")}
    assert {"ce", "kd"} <= set(terms) and all(not v.requires_grad and torch.isfinite(v) for v in terms.values())


@pytest.mark.parametrize("method", METHODS)
def test_gradients_reach_student_and_connectors_never_teacher(method, batch):
    teacher, student = models()  # wrn_16_2 (32/64/128 channels) -> resnet20 (16/32/64): connectors are needed
    strategy = build(method, teacher, student, batch)
    strategy(batch, student)["loss"].backward()
    assert any(p.grad is not None and p.grad.abs().sum() > 0 for p in student.parameters())
    own = [(n, p) for n, p in strategy.named_parameters() if p.requires_grad]
    assert all(p.grad is not None for _, p in own), [n for n, p in own if p.grad is None]
    assert all(p.grad is None and not p.requires_grad for p in teacher.parameters())
    assert count_extra_parameters(strategy) == sum(p.numel() for _, p in own)
    if method in ("fitnets", "crd"):
        assert count_extra_parameters(strategy) > 0


@pytest.mark.parametrize("method", [m for m in METHODS if m not in NOT_ZERO_AT_A_COPY])
def test_distillation_terms_vanish_when_the_student_is_a_copy(method, batch):
    teacher, _ = models(teacher="resnet20")
    student = copy.deepcopy(teacher).eval()  # eval: BN must use the same statistics as the frozen teacher
    args = {"kd_weight": 1.0}
    if "connector" in inspect.signature(STRATEGIES.get(method)).parameters:
        args["connector"] = "none"  # identity connector: same shapes
    strategy = build(method, teacher, student, batch, **args).eval()
    step = strategy(batch, student)
    for name, value in step.items():
        if name not in ("loss", "output", "ce"):
            assert abs(float(value)) < 1e-5, (name, float(value))


def test_feature_methods_refuse_a_teacher_without_a_network(batch):
    teacher, student = models()
    ensemble = EnsembleTeacher([FrozenTeacher(teacher), FrozenTeacher(copy.deepcopy(teacher))])
    context = {"student": student, "example_batch": batch, "num_samples": NUM_SAMPLES}
    with pytest.raises(ConfigError, match="single network teacher.*fitnets"):
        build_strategy("at", teacher=ensemble, context=context)
    assert build_strategy("dkd", teacher=ensemble, context=context)(batch, student)["loss"].isfinite()


@pytest.mark.parametrize("method", ["fitnets", "crd"])
def test_connector_state_is_checkpointed_and_absent_from_the_student(method, batch):
    teacher, student = models()
    strategy = build(method, teacher, student, batch)
    state = trainable_state(strategy)
    own = {n for n, p in strategy.named_parameters() if p.requires_grad}
    assert own and own <= set(state)
    assert not any(key.startswith("teacher.") for key in state)
    assert not any("connector" in key or "embed" in key for key in student.state_dict())
    fresh = build(method, teacher, student, batch)
    load_trainable_state(fresh, state)
    assert all(torch.equal(fresh.state_dict()[k], v) for k, v in state.items())


def test_crd_memory_bank_is_sized_to_the_dataset_saved_and_updated(batch):
    teacher, student = models()
    strategy = build("crd", teacher, student, batch, nce_k=100)
    assert strategy.criterion.nce_k == NUM_SAMPLES - 1  # min(nce_k, N - 1)
    assert trainable_state(strategy)["criterion.memory_student"].shape == (NUM_SAMPLES, 128)
    before = strategy.criterion.memory_teacher.clone()
    strategy.train()(batch, student)
    changed = (strategy.criterion.memory_teacher != before).any(1)
    assert changed[:8].all() and not changed[8:].any()  # only this batch's rows move
    with pytest.raises(ShapeError, match="index"):
        strategy({"inputs": batch["inputs"], "labels": batch["labels"]}, student)


def test_fitnets_two_stage_schedule_and_dkd_warmup_count_steps(batch):
    teacher, student = models()
    fitnets = build("fitnets", teacher, student, batch, hint_steps=1, kd_weight=0.5).train()
    first, second = fitnets(batch, student), fitnets(batch, student)
    assert torch.allclose(first["loss"], method_spec("fitnets").defaults()["feature_weight"] * first["hint"])  # stage 1: the hint alone
    assert torch.allclose(second["loss"], second["ce"] + 0.5 * second["kd"])  # stage 2: CE + KD, no hint
    assert int(trainable_state(fitnets)["steps_done"]) == 2
    dkd = build("dkd", teacher, student, batch, warmup_steps=4).train()
    step = dkd(batch, student)
    assert torch.allclose(step["loss"], step["ce"] + 0.25 * step["dkd"])


@pytest.mark.parametrize("method", ["fitnets", "crd"])
def test_the_training_loop_trains_and_checkpoints_a_feature_method(method, tmp_path):
    torch.manual_seed(0)
    images, labels = torch.randn(NUM_SAMPLES, *INPUT_SHAPE), torch.arange(NUM_SAMPLES) % 10
    loader = ArrayLoader(images, labels, batch_size=8, seed=0)
    teacher, student = models()
    strategy = build(method, teacher, student, next(iter(loader)))
    result = train(student, strategy, loader, None, TrainConfig(epochs=1, lr=0.01), run_dir=tmp_path)
    assert len(result.history) == 1
    assert (tmp_path / "checkpoints" / "latest.json").exists()
    from kdistill.training import load_weights

    exported = load_weights(tmp_path / "student.safetensors")
    assert set(exported) == set(student.state_dict())

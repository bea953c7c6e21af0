"""The training loop on tiny data: learning, records, checkpoints, exact resume, selection, clipping, failures."""

import json

import pytest
import torch
from torch import nn
from torch.optim.optimizer import register_optimizer_step_pre_hook

import kdistill.training.loop as loop_module
from kdistill.data import ArrayLoader
from kdistill.errors import CheckpointError, NonFiniteLossError
from kdistill.models import build_model
from kdistill.strategies import build_strategy
from kdistill.teachers import FrozenTeacher
from kdistill.training import TrainConfig, load_weights, train
from kdistill.training.history import read_records

TRAIN_SIZE, VAL_SIZE = 1024, 256


@pytest.fixture(scope="module")
def loaders_data(digits):
    images, labels = digits.train_images, digits.train_labels
    return (images[:TRAIN_SIZE], labels[:TRAIN_SIZE]), (images[TRAIN_SIZE:TRAIN_SIZE + VAL_SIZE],
                                                        labels[TRAIN_SIZE:TRAIN_SIZE + VAL_SIZE])


def loaders(loaders_data, batch_size=32, max_shift=0, seed=0):
    (train_x, train_y), (val_x, val_y) = loaders_data
    return (ArrayLoader(train_x, train_y, batch_size, shuffle=True, max_shift=max_shift, seed=seed),
            ArrayLoader(val_x, val_y, 256, shuffle=False))


def student(seed=0, **model_args):
    torch.manual_seed(seed)
    return build_model("mlp", (1, 8, 8), 10, **{"hidden": [32], **model_args})


def config(**changes):
    defaults = {"epochs": 3, "batch_size": 32, "lr": 0.1, "momentum": 0.9, "schedule": "cosine", "select": "last"}
    return TrainConfig(**{**defaults, **changes})


def test_loss_falls_and_accuracy_rises_on_digits(loaders_data):
    train_batches, val_batches = loaders(loaders_data)
    result = train(student(), build_strategy("supervised"), train_batches, val_batches, config(epochs=4))
    history = result.history
    assert [record["epoch"] for record in history] == [1, 2, 3, 4]
    assert history[-1]["train_loss"] < 0.5 * history[0]["train_loss"]
    assert history[-1]["val_accuracy"] > history[0]["val_accuracy"]
    assert history[-1]["val_accuracy"] > 0.8  # chance is 0.1


def test_run_dir_gets_metrics_checkpoints_and_exported_weights(loaders_data, tmp_path):
    train_batches, val_batches = loaders(loaders_data)
    model = student()
    result = train(model, build_strategy("supervised"), train_batches, val_batches, config(epochs=3), tmp_path)
    records = read_records(tmp_path / "metrics.jsonl")
    assert [record["epoch"] for record in records] == [1, 2, 3]
    for record in records:
        assert {"train_loss", "train_accuracy", "val_loss", "val_accuracy", "lr"} <= set(record)
    pointer = json.loads((tmp_path / "checkpoints" / "latest.json").read_text())
    assert pointer["epoch"] == 3
    # only the newest checkpoint pair is kept
    assert sorted(p.name for p in (tmp_path / "checkpoints").iterdir()) == [
        "epoch-0003.safetensors", "epoch-0003.state.pt", "latest.json"]
    exported = load_weights(tmp_path / "student.safetensors")
    assert all(torch.equal(exported[k], v) for k, v in model.state_dict().items())
    assert (tmp_path / "best.safetensors").exists()
    assert json.loads((tmp_path / "done.json").read_text())["best_epoch"] == result.best_epoch


def interrupt_at_epoch(monkeypatch, epoch_to_stop):
    """Make train() die (as if killed) right at the start of ``epoch_to_stop``."""
    real_start_epoch = loop_module.start_epoch

    def start_epoch(loader, seed, epoch):
        if epoch == epoch_to_stop:
            raise KeyboardInterrupt
        real_start_epoch(loader, seed, epoch)

    monkeypatch.setattr(loop_module, "start_epoch", start_epoch)


def distillation_setup(loaders_data):
    """Dropout student + jittered data + momentum + cosine + a frozen dropout teacher: every source of state."""
    torch.manual_seed(123)
    teacher = FrozenTeacher(build_model("mlp", (1, 8, 8), 10, hidden=[24], dropout=0.5))
    strategy = build_strategy("hinton", teacher=teacher, temperature=4.0, ce_weight=0.5, kd_weight=0.5)
    train_batches, val_batches = loaders(loaders_data, batch_size=48, max_shift=1, seed=7)
    return strategy, train_batches, val_batches


def test_resume_reaches_bitwise_identical_weights(loaders_data, tmp_path, monkeypatch):
    epochs = 4
    settings = config(epochs=epochs, lr=0.05, momentum=0.9, schedule="cosine", warmup_epochs=1, seed=3,
                      select="last")

    straight = student(seed=0, dropout=0.3)
    strategy, train_batches, val_batches = distillation_setup(loaders_data)
    train(straight, strategy, train_batches, val_batches, settings, tmp_path / "a")

    interrupted = student(seed=0, dropout=0.3)
    strategy, train_batches, val_batches = distillation_setup(loaders_data)
    with monkeypatch.context() as patch:
        interrupt_at_epoch(patch, 3)
        with pytest.raises(KeyboardInterrupt):
            train(interrupted, strategy, train_batches, val_batches, settings, tmp_path / "b")
    assert len(read_records(tmp_path / "b" / "metrics.jsonl")) == 2
    assert not (tmp_path / "b" / "done.json").exists()

    # a fresh process: new objects, a different initialisation that the checkpoint must overwrite
    resumed = student(seed=99, dropout=0.3)
    strategy, train_batches, val_batches = distillation_setup(loaders_data)
    result = train(resumed, strategy, train_batches, val_batches, settings, tmp_path / "b", resume=True)

    for key, value in straight.state_dict().items():
        assert torch.equal(resumed.state_dict()[key], value), key
    records_a = read_records(tmp_path / "a" / "metrics.jsonl")
    records_b = read_records(tmp_path / "b" / "metrics.jsonl")
    assert len(records_b) == epochs and len(result.history) == epochs
    for record_a, record_b in zip(records_a, records_b):
        assert {k: v for k, v in record_a.items() if k != "seconds"} == \
            {k: v for k, v in record_b.items() if k != "seconds"}


def test_resume_without_checkpoint_starts_fresh_and_finished_run_is_not_retrained(loaders_data, tmp_path,
                                                                                  monkeypatch):
    train_batches, val_batches = loaders(loaders_data)
    model = student()
    train(model, build_strategy("supervised"), train_batches, val_batches, config(epochs=1), tmp_path, resume=True)
    assert len(read_records(tmp_path / "metrics.jsonl")) == 1

    def fail(*args, **kwargs):
        raise AssertionError("a finished stage must not train again")

    monkeypatch.setattr(loop_module, "start_epoch", fail)
    reloaded = student(seed=5)
    train(reloaded, build_strategy("supervised"), train_batches, val_batches, config(epochs=1), tmp_path, resume=True)
    assert all(torch.equal(reloaded.state_dict()[k], v) for k, v in model.state_dict().items())


class NaNAtStep(nn.Module):
    """Supervised loss that turns into NaN at a given (1-based) step."""

    def __init__(self, bad_step):
        super().__init__()
        self.bad_step, self.calls = bad_step, 0
        self.inner = build_strategy("supervised")

    def forward(self, batch, student):
        self.calls += 1
        step = self.inner(batch, student)
        if self.calls == self.bad_step:
            step["loss"] = step["loss"] * float("nan")
        return step


def test_nan_loss_raises_error_naming_the_step(loaders_data):
    train_batches, val_batches = loaders(loaders_data)  # 32 steps per epoch
    with pytest.raises(NonFiniteLossError, match=r"epoch 2 step 3"):
        train(student(), NaNAtStep(bad_step=35), train_batches, val_batches, config())


def interrupted_run(loaders_data, stage_dir, monkeypatch):
    train_batches, val_batches = loaders(loaders_data)
    with monkeypatch.context() as patch:
        interrupt_at_epoch(patch, 3)
        with pytest.raises(KeyboardInterrupt):
            train(student(), build_strategy("supervised"), train_batches, val_batches, config(), stage_dir)
    pointer = json.loads((stage_dir / "checkpoints" / "latest.json").read_text())
    assert pointer["epoch"] == 2
    return stage_dir / "checkpoints" / pointer["weights"], pointer


def resume(loaders_data, stage_dir):
    train_batches, val_batches = loaders(loaders_data)
    return train(student(), build_strategy("supervised"), train_batches, val_batches, config(), stage_dir,
                 resume=True)


def test_flipped_bytes_in_checkpoint_raise_checkpoint_error(loaders_data, tmp_path, monkeypatch):
    weights, _ = interrupted_run(loaders_data, tmp_path, monkeypatch)
    data = bytearray(weights.read_bytes())
    data[-10] ^= 0xFF
    weights.write_bytes(bytes(data))
    with pytest.raises(CheckpointError, match="hash"):
        resume(loaders_data, tmp_path)


def test_truncated_checkpoint_raises_checkpoint_error_even_when_hash_is_updated(loaders_data, tmp_path, monkeypatch):
    from kdistill.training.checkpoint import sha256_of

    weights, pointer = interrupted_run(loaders_data, tmp_path, monkeypatch)
    weights.write_bytes(weights.read_bytes()[: weights.stat().st_size // 2])
    with pytest.raises(CheckpointError):
        resume(loaders_data, tmp_path)
    # a pointer that vouches for the truncated file: the weights reader itself must refuse it
    pointer["sha256"][weights.name] = sha256_of(weights)
    (tmp_path / "checkpoints" / "latest.json").write_text(json.dumps(pointer))
    with pytest.raises(CheckpointError, match="corrupt or truncated"):
        resume(loaders_data, tmp_path)


def test_corrupt_pointer_raises_checkpoint_error(loaders_data, tmp_path, monkeypatch):
    interrupted_run(loaders_data, tmp_path, monkeypatch)
    (tmp_path / "checkpoints" / "latest.json").write_text("{not json")
    with pytest.raises(CheckpointError):
        resume(loaders_data, tmp_path)


@pytest.mark.parametrize("use_run_dir", [False, True])
@pytest.mark.parametrize("select", ["best", "last"])
def test_select_keeps_best_or_last_epoch_weights(loaders_data, tmp_path, monkeypatch, use_run_dir, select):
    """Validation is scripted (0.5, 0.9, 0.3): 'best' must end with epoch 2's weights, 'last' with epoch 3's."""
    scripted = iter([0.5, 0.9, 0.3])
    snapshots = []

    def fake_validate(model, batches, device="cpu"):
        snapshots.append({k: v.clone() for k, v in model.state_dict().items()})
        return {"loss": 1.0, "accuracy": next(scripted)}

    monkeypatch.setattr(loop_module, "validate", fake_validate)
    train_batches, val_batches = loaders(loaders_data)
    model = student()
    result = train(model, build_strategy("supervised"), train_batches, val_batches, config(select=select),
                   tmp_path if use_run_dir else None)
    assert result.best_epoch == 2 and result.best_val_accuracy == 0.9
    expected = snapshots[1] if select == "best" else snapshots[2]
    assert not all(torch.equal(snapshots[1][k], snapshots[2][k]) for k in expected)
    assert all(torch.equal(model.state_dict()[k], v) for k, v in expected.items())


def measured_gradient_norms(loaders_data, grad_clip):
    norms = []

    def record(optimizer, args, kwargs):
        grads = [p.grad for group in optimizer.param_groups for p in group["params"] if p.grad is not None]
        norms.append(float(torch.sqrt(sum((g.double() ** 2).sum() for g in grads))))

    handle = register_optimizer_step_pre_hook(record)
    try:
        train_batches, val_batches = loaders(loaders_data)
        train(student(), build_strategy("supervised"), train_batches, val_batches,
              config(epochs=1, lr=0.01, grad_clip=grad_clip))
    finally:
        handle.remove()
    return norms


def test_grad_clip_caps_the_global_gradient_norm(loaders_data):
    unclipped = measured_gradient_norms(loaders_data, None)
    assert max(unclipped) > 0.1  # the cap below really bites
    clipped = measured_gradient_norms(loaders_data, 0.05)
    assert len(clipped) == len(unclipped) == TRAIN_SIZE // 32
    assert max(clipped) <= 0.05 * (1 + 1e-4)


def test_huge_learning_rate_with_clipping_stays_finite(loaders_data):
    train_batches, val_batches = loaders(loaders_data)
    result = train(student(), build_strategy("supervised"), train_batches, val_batches,
                   config(epochs=2, lr=50.0, momentum=0.0, schedule="constant", grad_clip=0.01))
    assert all(torch.isfinite(torch.tensor(r["train_loss"])) for r in result.history)


def test_loop_applies_max_norm_constraint_after_each_step(loaders_data):
    train_batches, val_batches = loaders(loaders_data)
    model = student(max_norm=0.5)
    train(model, build_strategy("supervised"), train_batches, val_batches, config(epochs=1, lr=0.5))
    for layer in model.modules():
        if isinstance(layer, nn.Linear):
            assert float(layer.weight.detach().norm(dim=1).max()) <= 0.5 + 1e-5

"""The training loop: one readable function, used for teachers, baselines, distillation and fine-tuning alike.

Per epoch: seed from (seed, epoch) -> steps (strategy -> loss -> backward -> clip -> step -> constraints -> lr step)
-> validation on held-out *training* data -> metrics.jsonl record -> atomic checkpoint. The loop never branches on the
distillation method: everything method-specific happens inside ``strategy(batch, student)``.
"""

from __future__ import annotations

import copy
import logging
import math
import time
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import torch
from torch import nn
from tqdm.auto import tqdm

from kdistill import distributed
from kdistill.batch import as_batch, batch_size, move_batch
from kdistill.errors import DataError
from kdistill.training.checkpoint import (  # verified best/export
    TrainingState,
    export_stage,
    load_best,
    load_checkpoint,
    load_export,
    save_checkpoint,
    save_weights,
)
from kdistill.training.config import TrainConfig
from kdistill.training.faults import (
    STEP_FAILURES,
    check_validation_batches,
    count_batches,
    explain_step_failure,
    non_finite_loss_error,
)
from kdistill.training.history import append_record, rewrite_records
from kdistill.training.optim import build_optimizer, build_scheduler
from kdistill.training.running import RunningMeans
from kdistill.training.seeding import start_epoch
from kdistill.training.validate import validate

log = logging.getLogger("kdistill")


@dataclass
class TrainResult:
    history: list[dict[str, Any]] = field(default_factory=list)
    best_epoch: int = -1
    best_val_accuracy: float = float("nan")
    seconds: float = 0.0


def train(
    student: nn.Module,
    strategy: nn.Module,
    train_batches: Iterable,
    val_batches: Iterable | None,
    config: TrainConfig,
    run_dir: str | Path | None = None,
    resume: bool = False,
    desc: str = "train",
    device: str | torch.device = "cpu",
    progress: bool = True,
    on_epoch: Callable[[dict[str, Any]], None] | None = None,
    epoch_log_level: int = logging.INFO,
) -> TrainResult:
    """Train ``student`` with ``strategy`` and return its history; the student ends with the selected weights.

    ``run_dir`` (optional) receives ``metrics.jsonl``, per-epoch checkpoints, ``best.safetensors`` and the exported
    ``student.safetensors``. With ``resume=True`` a killed run continues from its last checkpoint and reaches the
    same final weights as an uninterrupted run (same seed, CPU).

    Under torchrun (see ``kdistill.distributed``) the student is wrapped in DistributedDataParallel, epoch metrics are
    summed over ranks, and only rank 0 logs and writes files; ``train_batches`` must be this rank's shard.
    ``config.precision == "bf16"`` runs the step under bf16 autocast (losses compute in float32).

    Data the model cannot take (input shapes, label range or dtype, NaN/inf, empty or one-shot loaders) ends in a
    one-line KdistillError (see ``kdistill.training.faults``). ``progress=False`` hides the per-step progress bar;
    ``epoch_log_level`` is the level of the one-line epoch records (DEBUG for a model trained many times over, such
    as a tabular search's MLP candidates).
    ``on_epoch(record)`` is called after each epoch's record and checkpoint are written (a tuner's pruning check may
    raise there to stop the stage; a resumed stage continues from that checkpoint).
    """
    stage_dir = Path(run_dir) if run_dir is not None else None
    if stage_dir is not None and resume and (stage_dir / "done.json").exists():
        return finished_result(stage_dir, student)
    steps_per_epoch = count_batches(train_batches, "train_data")
    if val_batches is not None:
        check_validation_batches(val_batches)
    is_main = distributed.context().is_main
    writer_dir = stage_dir if is_main else None  # rank 0 alone writes metrics and checkpoints
    student.to(device)
    strategy.to(device)
    model = distributed.wrap_student(student, device)  # the student itself in a single process
    strategy_parameters = [p for p in strategy.parameters() if p.requires_grad]
    parameters = list(student.parameters()) + strategy_parameters
    optimizer = build_optimizer(parameters, config)
    scheduler = build_scheduler(optimizer, config, steps_per_epoch)

    state = TrainingState(0, {}, {}, [], -math.inf, -1)
    first_epoch = 1
    best_weights: dict[str, torch.Tensor] | None = None
    if stage_dir is not None and resume:
        restored = load_checkpoint(stage_dir, student, strategy)
        if restored is not None:
            state = restored
            optimizer.load_state_dict(state.optimizer)
            scheduler.load_state_dict(state.scheduler)
            first_epoch = state.epoch + 1
            if is_main:
                rewrite_records(stage_dir / "metrics.jsonl", state.history)
                log.info("%s: resuming after epoch %d", desc, state.epoch)
    elif writer_dir is not None:
        rewrite_records(writer_dir / "metrics.jsonl", [])

    started = time.perf_counter()
    for epoch in range(first_epoch, config.epochs + 1):
        epoch_started = time.perf_counter()
        start_epoch(train_batches, config.seed, epoch)
        student.train()
        strategy.train()
        running = RunningMeans()
        bar = tqdm(train_batches, desc=f"{desc} {epoch}/{config.epochs}", leave=False,
                   disable=None if is_main and progress else True, mininterval=0.5)
        for step_index, raw in enumerate(bar):
            batch = move_batch(as_batch(raw), device)
            try:
                with torch.autocast(torch.device(device).type, torch.bfloat16, enabled=config.precision == "bf16"):
                    step = strategy(batch, model)
            except STEP_FAILURES as error:
                explained = explain_step_failure(error, batch, student)
                if explained is None:
                    raise
                raise explained from error
            loss = step["loss"]
            if not torch.isfinite(loss):
                raise non_finite_loss_error(desc, loss, step, batch, student, f"epoch {epoch} step {step_index + 1}",
                                            str(running.means() or "none yet"), epoch == 1 and step_index == 0)
            optimizer.zero_grad(set_to_none=True)
            loss.backward()
            distributed.average_gradients(strategy_parameters)  # DDP averages the student's; no-op on one rank
            if config.grad_clip:
                torch.nn.utils.clip_grad_norm_(parameters, config.grad_clip)
            optimizer.step()
            constrain = getattr(student, "apply_weight_constraints", None)
            if callable(constrain):
                constrain()
            scheduler.step()
            running.update(step, batch.get("labels"), batch_size(batch))
            if step_index % 20 == 0:
                means = running.means()
                bar.set_postfix(loss=f"{means['loss']:.4f}", acc=f"{100 * means.get('accuracy', float('nan')):.1f}")

        if running.samples == 0:
            raise DataError(f"{desc}: train_data yielded no batches in epoch {epoch} although its len() is "
                            f"{steps_per_epoch}; pass a loader that can be iterated once per epoch")
        distributed.all_reduce_running(running, device)
        record = {"epoch": epoch, **{f"train_{k}": v for k, v in running.means().items()}}
        record["lr"] = optimizer.param_groups[0]["lr"]
        if val_batches is not None:
            record.update({f"val_{k}": v for k, v in validate(student, val_batches, device).items()})
        record["seconds"] = time.perf_counter() - epoch_started
        state.history.append(record)
        if is_main:
            log.log(epoch_log_level, "%s", format_record(desc, record, config.epochs))

        selection_score = record.get("val_accuracy", -record["train_loss"])
        if selection_score > state.best_val_accuracy:
            state.best_val_accuracy, state.best_epoch = selection_score, epoch
            if writer_dir is not None:
                save_weights(writer_dir / "best.safetensors", student.state_dict(), {"epoch": str(epoch)})
            else:
                best_weights = copy.deepcopy(student.state_dict())
        if writer_dir is not None:
            append_record(writer_dir / "metrics.jsonl", record)
            state.epoch = epoch
            state.optimizer, state.scheduler = optimizer.state_dict(), scheduler.state_dict()
            save_checkpoint(writer_dir, student, strategy, state)
        if on_epoch is not None:
            on_epoch(record)

    if config.select == "best" and state.best_epoch > 0:
        if writer_dir is not None:
            load_best(writer_dir, student)  # checked against the hash the last checkpoint recorded
        elif best_weights is not None:
            student.load_state_dict(best_weights)
    result = TrainResult(state.history, state.best_epoch, state.best_val_accuracy,
                         sum(r["seconds"] for r in state.history))
    if writer_dir is not None:
        export_stage(writer_dir, student, result.__dict__)  # student.safetensors, then done.json with its sha256
    distributed.barrier()  # no rank moves on (e.g. reads done.json) before rank 0 has written
    log.debug("%s finished in %.1fs (this session %.1fs)", desc, result.seconds, time.perf_counter() - started)
    return result


def finished_result(stage_dir: Path, student: nn.Module) -> TrainResult:
    """A stage that already completed: load its exported weights (checked against done.json) instead of training."""
    return TrainResult(**load_export(stage_dir, student))


def format_record(desc: str, record: dict[str, Any], epochs: int) -> str:
    parts = [f"{desc} epoch {record['epoch']}/{epochs}"]
    for key, value in record.items():
        if key == "epoch":
            continue
        if key.endswith("accuracy"):
            parts.append(f"{key} {100 * value:.2f}%")
        elif key == "lr":
            parts.append(f"lr {value:.2e}")
        elif key == "seconds":
            parts.append(f"{value:.1f}s")
        else:
            parts.append(f"{key} {value:.4f}")
    return "  ".join(parts)

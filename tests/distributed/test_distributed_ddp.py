"""Two CPU processes (gloo, DistributedDataParallel) reach the metrics of the single-process run."""

import json
import os
import socket

import pytest
import torch
import torch.distributed as dist
import torch.multiprocessing as mp

from kdistill import distributed
from kdistill.data import ArrayLoader, load_dataset, split_validation
from kdistill.models import build_model
from kdistill.strategies import build_strategy
from kdistill.teachers import FrozenTeacher
from kdistill.training import TrainConfig, train

GLOBAL_BATCH = 64
CONFIG = TrainConfig(epochs=3, batch_size=GLOBAL_BATCH, lr=0.05, schedule="cosine", seed=0)


def distill_digits(rank: int, world_size: int, run_dir: str | None) -> dict:
    """Hinton-distil a small MLP on digits; this rank trains on its shard with batch GLOBAL_BATCH / world_size."""
    torch.set_num_threads(1)
    data = load_dataset("digits")
    train_x, train_y, val_x, val_y = split_validation(data.train_images, data.train_labels, 200, seed=0)
    train_x, train_y = train_x[:1200], train_y[:1200]  # divisible by the world size: same samples every epoch
    torch.manual_seed(1)
    teacher = build_model("mlp", (1, 8, 8), 10, hidden=[64])
    torch.manual_seed(2)
    student = build_model("mlp", (1, 8, 8), 10, hidden=[32])
    strategy = build_strategy("hinton", teacher=FrozenTeacher(teacher), temperature=4.0)
    loader = ArrayLoader(train_x, train_y, GLOBAL_BATCH // world_size, max_shift=1, seed=0, rank=rank,
                         world_size=world_size)
    result = train(student, strategy, loader, ArrayLoader(val_x, val_y, 30, shuffle=False), CONFIG, run_dir)
    return result.history[-1]


def worker(rank: int, world_size: int, port: int, run_dir: str, out: str) -> None:
    os.environ.update(MASTER_ADDR="127.0.0.1", MASTER_PORT=str(port), RANK=str(rank), WORLD_SIZE=str(world_size),
                      LOCAL_RANK=str(rank))
    ctx = distributed.init_from_env()
    assert ctx.world_size == world_size and dist.get_backend() == "gloo"
    try:
        record = distill_digits(rank, world_size, run_dir)
    finally:
        distributed.shutdown()
    with open(f"{out}.{rank}.json", "w") as handle:
        json.dump(record, handle)


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def test_two_processes_match_one(tmp_path):
    single = distill_digits(0, 1, None)
    run_dir = tmp_path / "ddp"
    mp.spawn(worker, args=(2, free_port(), str(run_dir), str(tmp_path / "record")), nprocs=2, join=True)
    records = [json.loads((tmp_path / f"record.{rank}.json").read_text()) for rank in range(2)]
    # metrics are reduced over ranks: both ranks report the same global numbers
    assert records[0]["train_loss"] == pytest.approx(records[1]["train_loss"], rel=1e-12)
    assert records[0]["val_accuracy"] == records[1]["val_accuracy"]
    for key in ("train_loss", "train_accuracy", "val_loss", "val_accuracy"):
        assert records[0][key] == pytest.approx(single[key], abs=2e-3), key
    # rank 0 alone wrote the stage files, once per epoch
    lines = (run_dir / "metrics.jsonl").read_text().splitlines()
    assert [json.loads(line)["epoch"] for line in lines] == [1, 2, 3]
    assert (run_dir / "done.json").exists()

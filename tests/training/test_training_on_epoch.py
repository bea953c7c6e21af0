"""The loop's per-epoch hook (a tuner's pruning check): called after each epoch's checkpoint; raising there stops the
stage, and a resumed stage continues after the last epoch the hook saw."""

import pytest
import torch

from kdistill.data import ArrayLoader
from kdistill.models import build_model
from kdistill.strategies import build_strategy
from kdistill.training import TrainConfig, train


class Stop(Exception):
    pass


def test_on_epoch_sees_each_record_after_its_checkpoint_and_can_stop_the_stage(digits, tmp_path):
    train_batches = ArrayLoader(digits.train_images[:256], digits.train_labels[:256], 64, shuffle=True, seed=0)
    val_batches = ArrayLoader(digits.train_images[256:384], digits.train_labels[256:384], 128, shuffle=False)
    seen = []

    def on_epoch(record):
        seen.append(record["epoch"])
        assert (tmp_path / "stage" / "checkpoints" / f"epoch-{record['epoch']:04d}.state.pt").is_file()
        if record["epoch"] == 2:
            raise Stop

    config = TrainConfig(epochs=4, batch_size=64, lr=0.1)
    torch.manual_seed(0)
    model = build_model("mlp", (1, 8, 8), 10, hidden=[16])
    with pytest.raises(Stop):
        train(model, build_strategy("supervised"), train_batches, val_batches, config, tmp_path / "stage",
              on_epoch=on_epoch)
    assert seen == [1, 2] and not (tmp_path / "stage" / "done.json").exists()
    seen.clear()
    result = train(model, build_strategy("supervised"), train_batches, val_batches, config, tmp_path / "stage",
                   resume=True, on_epoch=lambda record: seen.append(record["epoch"]))
    assert seen == [3, 4] and [record["epoch"] for record in result.history] == [1, 2, 3, 4]

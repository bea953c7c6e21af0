"""kdistill.distill with kdistill's own ArrayLoader sizes CRD's memory bank from the loader (was a ConfigError)."""

import torch

import kdistill
from kdistill.data import ArrayLoader
from kdistill.models import build_model


def test_crd_through_the_api_on_an_array_loader(digits):
    torch.manual_seed(0)
    teacher = build_model("cnn", (1, 8, 8), 10, channels=[4, 8])
    student = build_model("cnn", (1, 8, 8), 10, channels=[4, 4])
    loader = ArrayLoader(digits.train_images[:256], digits.train_labels[:256], 64, seed=0)
    result = kdistill.distill(teacher, student, loader, None, method="crd", layers=[["features", "features"]],
                              nce_k=32, embed_dim=8, epochs=1, lr=0.01, verbose=False)
    assert result.history and torch.isfinite(torch.tensor(result.history[-1]["train_loss"]))

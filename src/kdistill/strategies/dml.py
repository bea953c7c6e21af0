"""Deep Mutual Learning (Zhang et al. 2018): K >= 2 networks trained together, no pre-trained teacher.

Each network k learns from the labels and from its peers' predictions:

    L_k = ce_weight · CE(y, σ(z_k)) + mutual_weight · T² · 1/(K-1) Σ_{l≠k} KL(σ(z_l/T) ‖ σ(z_k/T))

The strategy owns the K-1 peers as submodules (the student is network 0), so the training loop's single optimizer
trains all K. The step's loss is Σ_k L_k with every peer target detached: L_k depends on θ_k directly and on the
other networks only through detached targets, so ∂(Σ_j L_j)/∂θ_k = ∂L_k/∂θ_k - each network receives exactly its
own DML gradient. SGD (momentum, weight decay) and Adam keep their state per parameter, so one optimizer over the
union of K disjoint parameter sets takes the same steps as K optimizers with the same settings. Two differences
from the paper remain, both documented: the networks update simultaneously on one batch (the paper updates them
in turn, each using the peers' already-updated predictions), and ``grad_clip`` clips the global norm over all K.

The loop validates, selects and exports the student only; use ``select: last`` so the peers' final weights belong
to the same epoch as the student's, and read them from ``strategy.peers``.
"""

from __future__ import annotations

import copy
from collections.abc import Sequence

import torch
from torch import nn

from kdistill.arguments import PositiveInt, Temperature, Weight
from kdistill.batch import Batch, forward_model
from kdistill.errors import ConfigError
from kdistill.features import unwrap_model
from kdistill.losses import hard_label_cross_entropy, kd_kl_divergence
from kdistill.strategies.spec import register_method
from kdistill.teachers import Teacher


def mutual_learning_losses(
    logits: Sequence[torch.Tensor], labels: torch.Tensor | None, temperature: float
) -> tuple[list[torch.Tensor], list[torch.Tensor]]:
    """Per network k: (CE(y, σ(z_k)) or 0 without labels, T²·mean_{l≠k} KL(σ(z_l/T) ‖ σ(z_k/T)) with z_l detached).

    ``logits``: K tensors (B, C). Both lists have K scalars, unweighted.
    """
    if len(logits) < 2:
        raise ConfigError(f"mutual learning needs at least 2 networks, got {len(logits)}")
    ces, mutuals = [], []
    for k, own in enumerate(logits):
        others = [other.detach() for l_index, other in enumerate(logits) if l_index != k]
        mutuals.append(torch.stack([kd_kl_divergence(own, other, temperature) for other in others]).mean())
        ces.append(hard_label_cross_entropy(own, labels) if labels is not None else own.new_zeros(()).float())
    return ces, mutuals


def reinitialised_copy(model: nn.Module, seed: int) -> nn.Module:
    """A deep copy of ``model`` with every ``reset_parameters`` re-run under ``seed`` (same architecture, new init)."""
    peer = copy.deepcopy(unwrap_model(model))
    with torch.random.fork_rng(devices=[]):  # leave the caller's global RNG stream untouched
        torch.manual_seed(seed)
        for module in peer.modules():
            reset = getattr(module, "reset_parameters", None)
            if callable(reset):
                reset()
    for parameter in peer.parameters():
        parameter.requires_grad_(True)
    return peer


class DeepMutualLearning(nn.Module):
    """The student plus ``peers`` (nn.Modules with the same outputs), each trained on CE + mutual KL."""

    def __init__(self, peers: Sequence[nn.Module], temperature: float, ce_weight: float, mutual_weight: float):
        super().__init__()
        if not peers:
            raise ConfigError("deep mutual learning needs at least one peer network besides the student")
        self.peers = nn.ModuleList(peers)
        self.temperature, self.ce_weight, self.mutual_weight = temperature, ce_weight, mutual_weight

    def networks(self, student: nn.Module) -> list[nn.Module]:
        """All K networks: the student first, then the peers."""
        return [unwrap_model(student), *self.peers]

    def forward(self, batch: Batch, student: nn.Module) -> dict[str, torch.Tensor]:
        logits = [forward_model(student, batch)] + [forward_model(peer, batch) for peer in self.peers]  # K x (B, C)
        labels = batch.get("labels")
        if labels is None and self.ce_weight:
            raise ConfigError("ce_weight > 0 needs labelled batches")
        ces, mutuals = mutual_learning_losses(logits, labels, self.temperature)
        per_network = [self.ce_weight * ce + self.mutual_weight * mutual for ce, mutual in zip(ces, mutuals)]
        step = {"loss": torch.stack(per_network).sum(), "output": logits[0], "ce": ces[0].detach(),
                "mutual": mutuals[0].detach()}
        step["peer_ce"] = torch.stack(ces[1:]).mean().detach()
        step["peer_mutual"] = torch.stack(mutuals[1:]).mean().detach()
        return step


@register_method(
    "dml", uses_teacher=False, search_space={"temperature": ("log", 1.0, 8.0), "mutual_weight": ("log", 0.1, 10.0)},
)
def dml(
    teacher: Teacher | None = None,
    student: nn.Module | None = None,
    num_peers: PositiveInt = 1,
    peer_seed: int = 1000,
    temperature: Temperature = 1.0,
    ce_weight: Weight = 1.0,
    mutual_weight: Weight = 1.0,
) -> DeepMutualLearning:
    """Deep Mutual Learning: the student and num_peers re-initialised copies teach each other (no teacher used)."""
    del teacher  # online distillation: no pre-trained teacher takes part
    if student is None:
        raise ConfigError("method 'dml' copies the student's architecture; pass context {'student': model}")
    if num_peers < 1:
        raise ConfigError(f"num_peers must be >= 1; got {num_peers}")
    peers = [reinitialised_copy(student, peer_seed + index) for index in range(num_peers)]
    return DeepMutualLearning(peers, temperature, ce_weight, mutual_weight)

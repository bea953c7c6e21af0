"""Deep Mutual Learning: every network learns every step, each from its own DML gradient only."""

import copy

import pytest
import torch
from torch import nn

from kdistill.errors import ConfigError
from kdistill.strategies import build_strategy
from kdistill.strategies.dml import DeepMutualLearning, mutual_learning_losses, reinitialised_copy


def small_net(seed):
    torch.manual_seed(seed)
    return nn.Sequential(nn.Flatten(), nn.Linear(16, 8), nn.ReLU(), nn.Linear(8, 3))


def batch(seed=0, size=6):
    generator = torch.Generator().manual_seed(seed)
    return {"inputs": torch.randn(size, 1, 4, 4, generator=generator),
            "labels": torch.randint(0, 3, (size,), generator=generator)}


def test_every_network_changes_on_every_step():
    student = small_net(0)
    strategy = build_strategy("dml", context={"student": student}, num_peers=2)
    parameters = list(student.parameters()) + [p for p in strategy.parameters() if p.requires_grad]
    optimizer = torch.optim.SGD(parameters, lr=0.1)
    networks = strategy.networks(student)
    assert len(networks) == 3 and len(parameters) == 3 * len(list(student.parameters()))
    for step in range(3):
        before = [copy.deepcopy(net.state_dict()) for net in networks]
        optimizer.zero_grad()
        strategy(batch(step), student)["loss"].backward()
        optimizer.step()
        for net, old in zip(networks, before):
            for name, value in net.state_dict().items():
                assert not torch.equal(value, old[name]), f"step {step}: {name} did not change"


def test_total_gradient_equals_each_networks_own_dml_gradient():
    student = small_net(0)
    strategy = DeepMutualLearning([small_net(1), small_net(2)], temperature=2.0, ce_weight=1.0, mutual_weight=0.7)
    data = batch()
    strategy(data, student)["loss"].backward()
    total = [[p.grad.clone() for p in net.parameters()] for net in strategy.networks(student)]
    for k, net in enumerate(strategy.networks(student)):
        for other in strategy.networks(student):
            other.zero_grad()
        logits = [n(data["inputs"]) for n in strategy.networks(student)]
        ces, mutuals = mutual_learning_losses(logits, data["labels"], 2.0)
        (ces[k] + 0.7 * mutuals[k]).backward()
        for grad_total, parameter in zip(total[k], net.parameters()):
            torch.testing.assert_close(grad_total, parameter.grad)


def test_mutual_term_matches_a_float64_reference():
    logits = [torch.randn(5, 4, generator=torch.Generator().manual_seed(i)) for i in range(3)]
    _, mutuals = mutual_learning_losses(logits, None, 3.0)
    for k in range(3):
        reference = []
        for l_index in range(3):
            if l_index != k:
                p = torch.softmax(logits[l_index].double() / 3, -1)
                q = torch.softmax(logits[k].double() / 3, -1)
                reference.append((p * (p.log() - q.log())).sum(-1).mean() * 9)
        assert mutuals[k].item() == pytest.approx(float(sum(reference) / 2), rel=1e-5)


def test_peers_are_seeded_reinitialisations_of_the_students_architecture():
    student = small_net(0)
    peer_a, peer_b = reinitialised_copy(student, 5), reinitialised_copy(student, 5)
    for (name, value), other in zip(student.state_dict().items(), peer_b.state_dict().values()):
        assert value.shape == other.shape and not torch.equal(value, other), name
    for value, other in zip(peer_a.state_dict().values(), peer_b.state_dict().values()):
        assert torch.equal(value, other)


def test_dml_needs_the_student_and_at_least_one_peer():
    with pytest.raises(ConfigError, match="student"):
        build_strategy("dml")
    with pytest.raises(ConfigError, match="num_peers"):
        build_strategy("dml", context={"student": small_net(0)}, num_peers=0)

"""AveragedEnsemble: softmax(output / T) is the members' mean tempered distribution, checked in float64."""

import pytest
import torch
from torch import nn

from kdistill.models import AveragedEnsemble


class Fixed(nn.Module):
    def __init__(self, logits):
        super().__init__()
        self.register_buffer("logits", torch.tensor(logits, dtype=torch.float64))

    def forward(self, inputs):
        return self.logits.expand(len(inputs), -1)


MEMBERS = [[9.0, 0.0, -3.0], [0.5, 2.0, 0.0], [-40.0, 60.0, 1.0]]  # one very confident member


@pytest.mark.parametrize("temperature", [1.0, 4.0, 20.0])
def test_softmax_at_t_is_the_mean_tempered_distribution(temperature):
    ensemble = AveragedEnsemble([Fixed(m) for m in MEMBERS], temperature)
    output = ensemble(torch.zeros(2, 5)).double()
    expected = torch.stack([torch.softmax(torch.tensor(m, dtype=torch.float64) / temperature, -1)
                            for m in MEMBERS]).mean(0)
    torch.testing.assert_close(torch.softmax(output / temperature, -1)[0], expected, rtol=1e-5, atol=1e-7)
    assert torch.isfinite(output).all()


def test_at_temperature_shares_members_and_changes_the_state():
    ensemble = AveragedEnsemble([nn.Linear(3, 2), nn.Linear(3, 2)])
    hot = ensemble.at_temperature(4.0)
    assert all(a is b for a, b in zip(ensemble.members, hot.members))
    # the temperature is state, so a cache fingerprinted on the weights tells the two apart
    assert float(ensemble.state_dict()["temperature"]) == 1.0 and float(hot.state_dict()["temperature"]) == 4.0


def test_bad_arguments_are_refused():
    with pytest.raises(ValueError, match="at least one member"):
        AveragedEnsemble([])
    with pytest.raises(ValueError, match="temperature"):
        AveragedEnsemble([nn.Linear(2, 2)], temperature=0.0)

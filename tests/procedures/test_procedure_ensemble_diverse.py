"""The ensemble procedure with diverse members: per-member architectures and jitter, bagging, and the three shares."""

import math

import pytest
import torch
from procedure_settings import MLP, TRAIN

import kdistill.procedures.ensemble as ensemble_module
from kdistill.errors import ConfigError
from kdistill.procedures import run_procedure
from kdistill.procedures.ensemble import bootstrap_sample, member_plan, share

WIDE = {"model": "mlp", "model_args": {"hidden": [48, 24]}}


def test_member_plan_names_each_member_and_refuses_mismatches():
    plan = member_plan(MLP, 5, [MLP, WIDE, MLP, WIDE, MLP], jitter=2, member_jitter=[0, 1, 2, 0, 1])
    assert [spec for spec, _ in plan] == [MLP, WIDE, MLP, WIDE, MLP] and [s for _, s in plan] == [0, 1, 2, 0, 1]
    assert [s for _, s in member_plan(MLP, 5, None, jitter=2, member_jitter=None)] == [2] * 5
    with pytest.raises(ConfigError, match="member_jitter"):
        member_plan(MLP, 5, None, jitter=0, member_jitter=[1, 2])
    with pytest.raises(ConfigError, match="member_models names 6"):
        member_plan(MLP, 7, [MLP] * 6, jitter=0, member_jitter=None)
    with pytest.raises(ValueError, match="at least 5"):
        member_plan(MLP, 5, [MLP] * 4, jitter=0, member_jitter=None)


def test_bootstrap_sample_draws_with_replacement_and_is_seeded():
    rows = bootstrap_sample(1000, seed=3)
    assert rows.shape == (1000,) and torch.equal(rows, bootstrap_sample(1000, seed=3))
    assert 550 < len(rows.unique()) < 720  # ~63% distinct, as bagging expects
    assert not torch.equal(rows, bootstrap_sample(1000, seed=4))


def test_share_of_the_gain():
    assert share(0.608, 0.611, 0.589) == pytest.approx((60.8 - 58.9) / (61.1 - 58.9))
    assert math.isnan(share(0.9, 0.8, 0.8))  # no gain: no share


def test_diverse_members_train_on_their_own_bootstrap_samples(digit_splits, monkeypatch):
    seen = []
    real_fit = ensemble_module.fit_model

    def recording_fit(model, images, labels, splits, options, seed, max_shift=0):
        seen.append((images, max_shift))
        return real_fit(model, images, labels, splits, options, seed, max_shift)

    monkeypatch.setattr(ensemble_module, "fit_model", recording_fit)
    result = run_procedure("ensemble", digit_splits, model=MLP, train=TRAIN, member_models=[MLP, WIDE, MLP, WIDE, WIDE],
                           member_jitter=[0, 1, 0, 1, 1], bootstrap=True, student_alone=True)
    members, alone = seen[:5], seen[5]
    count = len(digit_splits.train_labels)
    assert all(len(images) == count for images, _ in members) and [s for _, s in members] == [0, 1, 0, 1, 1]
    assert all(len(images.flatten(1).unique(dim=0)) < 0.8 * count for images, _ in members)  # duplicates: bagged
    assert len(alone[0]) == count and torch.equal(alone[0], digit_splits.train_images)  # the control is not bagged
    # the student-architecture members are the MLP ones (0 and 2); every share is measured against its own single
    assert result["student_member_accuracy"] == pytest.approx(
        (result["member_accuracy"][0] + result["member_accuracy"][2]) / 2)
    expected = share(result["distilled_accuracy"], result["ensemble_accuracy"], result["student_alone_accuracy"])
    assert result["gain_recovered_vs_alone"] == pytest.approx(expected, nan_ok=True)
    assert result["member_jitter"] == [0, 1, 0, 1, 1] and result["member_models"][1] == WIDE

"""The experiment procedures run end to end on digits, and keep their promises (members, generations, subsets)."""

import pytest
import torch
from procedure_settings import MLP, TRAIN

from kdistill.data import subset_indices
from kdistill.errors import ConfigError
from kdistill.procedures import PROCEDURES, run_procedure
from kdistill.procedures.born_again import train_generations

CNN = {"model": "cnn", "model_args": {"channels": [4, 8, 8], "hidden": 16}}


def test_every_experiment_is_registered():
    assert {"ensemble", "dml", "born-again", "byot", "specialist", "omitted-class", "limited-data"} <= set(
        PROCEDURES.names())


def test_unknown_procedure_argument_is_a_config_error(digit_splits):
    with pytest.raises(ConfigError, match="bogus"):
        run_procedure("ensemble", digit_splits, model=MLP, train=TRAIN, bogus=1)


def test_ensemble_uses_at_least_five_members(digit_splits):
    with pytest.raises(ValueError, match="at least 5"):
        run_procedure("ensemble", digit_splits, model=MLP, train=TRAIN, members=4)
    result = run_procedure("ensemble", digit_splits, model=MLP, train=TRAIN, members=5)
    assert len(result["member_accuracy"]) == 5
    assert 0 < result["ensemble_accuracy"] <= 1 and 0 < result["distilled_accuracy"] <= 1


def test_ban_generation_is_taught_by_a_frozen_copy_of_the_previous_one(digit_splits):
    generations = train_generations(digit_splits, MLP, TRAIN, generations=2, temperature=1.0, ce_weight=0.0,
                                    kd_weight=1.0, seed=0)
    assert [g.index for g in generations] == [0, 1, 2] and generations[0].teacher is None
    for previous, current in zip(generations, generations[1:]):
        teacher_model = current.teacher.model
        assert teacher_model is not previous.model and not teacher_model.training
        for name, value in previous.model.state_dict().items():
            assert torch.equal(teacher_model.state_dict()[name], value), name
        assert not any(p.requires_grad for p in teacher_model.parameters())
        assert not any(torch.equal(a, b) for a, b in zip(current.model.parameters(), previous.model.parameters()))


def test_limited_data_subset_is_stratified_three_percent(digit_splits):
    labels = digit_splits.train_labels
    index = subset_indices(labels, 0.03, seed=0, stratified=True)
    assert len(index) == round(0.03 * len(labels))
    expected = torch.bincount(labels, minlength=10).double() * 0.03
    assert ((torch.bincount(labels[index], minlength=10) - expected).abs() <= 1).all()
    result = run_procedure("limited-data", digit_splits, teacher_model=MLP, student_model=MLP, train=TRAIN)
    assert result["subset_size"] == len(index) and result["fraction"] == 0.03


def test_dml_experiment_reports_each_network_alone_and_together(digit_splits):
    result = run_procedure("dml", digit_splits, networks=[MLP, {"model": "mlp", "model_args": {"hidden": [16]}}],
                           train=TRAIN)
    assert len(result["alone_accuracy"]) == len(result["dml_accuracy"]) == 2
    assert 0 < result["net2_distilled_from_net1_accuracy"] <= 1


def test_byot_experiment_reports_every_exit(digit_splits):
    result = run_procedure("byot", digit_splits, model=CNN, train=TRAIN, exit_layers=["features.3", "features.7"],
                           feature_layer="features.11")
    assert [row["exit"] for row in result["exits"]] == [1, 2, 3]
    flops = [row["flops_per_sample"] for row in result["exits"]]
    assert flops == sorted(flops)


def test_specialist_experiment_compares_with_labels_only(digit_splits):
    result = run_procedure("specialist", digit_splits, classes=[3, 5, 8], teacher_model=MLP, student_model=MLP,
                           train=TRAIN)
    for key in ("teacher_subset_accuracy", "labels_only_accuracy", "specialist_kd_accuracy"):
        assert 0 < result[key] <= 1


def test_ensemble_with_jitter_teaches_on_the_students_shifted_view(digit_splits, monkeypatch):
    import kdistill.procedures.ensemble as ensemble_module

    seen = {"teacher": [], "student": []}

    class RecordingEnsemble(ensemble_module.EnsembleTeacher):
        def teacher_logits(self, batch):
            seen["teacher"].append(batch["inputs"].clone())
            return super().teacher_logits(batch)

    built = []

    def recording_model(*args, **kwargs):
        network = ensemble_module.build_seeded_model.__wrapped__(*args, **kwargs)
        built.append(network)
        if len(built) == 6:  # five members, then the distilled student
            network.register_forward_pre_hook(lambda _, inputs: seen["student"].append(inputs[0].clone()))
        return network

    recording_model.__wrapped__ = ensemble_module.build_seeded_model
    monkeypatch.setattr(ensemble_module, "EnsembleTeacher", RecordingEnsemble)
    monkeypatch.setattr(ensemble_module, "build_seeded_model", recording_model)
    result = run_procedure("ensemble", digit_splits, model=MLP, train=TRAIN, members=5, jitter=1,
                           distill_train={**TRAIN, "epochs": 2})
    assert len(built) == 7 and "student_alone_accuracy" in result  # the label-only control on the student's schedule
    training_views = [view for view in seen["teacher"] if view.shape[0] == TRAIN["batch_size"]]
    assert training_views, "the ensemble never taught a training batch"
    student_views = [view for view in seen["student"] if view.shape[0] == TRAIN["batch_size"]]
    for teacher_view in training_views:  # every view the ensemble labelled is one the student trained on
        assert any(torch.equal(teacher_view, student_view) for student_view in student_views)
    originals = digit_splits.train_images.flatten(1)
    shifted = [view for view in training_views if not (view.flatten(1)[:1] == originals).all(1).any()]
    assert shifted, "jitter=1 never shifted a training image"

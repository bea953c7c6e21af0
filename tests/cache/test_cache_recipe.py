"""One recipe key switches the cache on; `kdistill cache build` prepares it; the report profiles the teacher."""

import json

import torch

from kdistill.cli import main

TINY = ["data.dataset=digits", "data.val_size=100", "data.train_limit=300", "teacher.train.epochs=1",
        "student.train.epochs=1", "student.jitter=1", "teacher.model_args={hidden: [32]}",
        "student.model_args={hidden: [16]}", "report.plots=false", "report.latency_repeats=1",
        "distill.cache.format=topk", "distill.cache.topk=3", "distill.cache.views=2", "distill.cache.shard_size=128"]


def test_cache_build_then_run_uses_the_cache(tmp_path, capsys):
    torch.set_num_threads(1)
    run_dir = tmp_path / "run"
    assert main(["cache", "build", "quick", *TINY, "--run-dir", str(run_dir)]) == 0
    assert "built 3 shard(s), reused 0" in capsys.readouterr().out
    assert main(["run", "quick", *TINY, "distill.cache.enabled=true", "--run-dir", str(run_dir)]) == 0
    report = json.loads((run_dir / "report.json").read_text())
    cost = report["teacher_cost"]
    assert cost["cache_views"] == 2 and cost["cache_format"] == "topk"
    assert cost["cache_bytes_per_sample"] == 2 * (3 * 4 + 2)  # views x (k fp16 values + k int16 ids + fp16 fill)
    assert cost["teacher_flops_per_sample"] > cost["student_flops_per_sample"] > 0
    assert cost["epoch_seconds_cached"] > 0 and cost["speedup"] > 0
    assert 0 < cost["teacher_share_of_step_uncached"] < 1
    assert any(note.startswith("teacher cost:") for note in report["notes"])


def test_run_without_cache_still_profiles_the_teacher(tmp_path):
    torch.set_num_threads(1)
    assert main(["run", "quick", *TINY, "--run-dir", str(tmp_path)]) == 0
    cost = json.loads((tmp_path / "report.json").read_text())["teacher_cost"]
    assert cost["epoch_seconds_cached"] is None and cost["epoch_seconds_recompute"] > 0
    assert not (tmp_path / "teacher-cache").exists()


def test_a_feature_method_runs_from_a_cache_with_stored_layers(tmp_path):
    """FitNets (its regressor is sized on an example batch) with jittered views: the teacher's stage outputs come
    from the cache, not from hooks."""
    torch.set_num_threads(1)
    recipe = ["data.dataset=digits", "data.val_size=100", "data.train_limit=200", "teacher.model=resnet20",
              "teacher.train.epochs=1", "student.train.epochs=1", "student.jitter=1", "report.plots=false",
              "report.latency_repeats=1", "distill.cache.enabled=true", "distill.cache.views=2",
              "distill.cache.features=[layer1, layer2, layer3]", "distill.method=fitnets",
              "distill.method_args={layers: middle}"]
    assert main(["run", "features-fashion", *recipe, "--run-dir", str(tmp_path)]) == 0
    history = [json.loads(line) for line in (tmp_path / "distilled" / "metrics.jsonl").read_text().splitlines()]
    assert history and all(record["train_hint"] > 0 for record in history)
    assert json.loads((tmp_path / "report.json").read_text())["teacher_cost"]["cache_views"] == 2



def test_a_recipe_warp_reaches_the_cache_and_the_distilled_stage_keys(tmp_path):
    torch.set_num_threads(1)
    warp = ["distill.cache.enabled=true", "distill.cache.warp={rotation: 10, elastic: 1.0}"]
    assert main(["run", "quick", *TINY, *warp, "--run-dir", str(tmp_path)]) == 0
    manifest = json.loads((tmp_path / "teacher-cache" / "manifest.json").read_text())
    assert manifest["warp"]["rotation"] == 10 and manifest["views"] == 2
    stages = json.loads((tmp_path / "fingerprint.json").read_text())["stages"]
    assert stages["distilled"]["distill.cache.warp.elastic"] == 1
    assert not any("warp" in key for key in stages["baseline"])  # the baseline never sees warped views

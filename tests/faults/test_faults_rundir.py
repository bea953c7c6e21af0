"""Run folders that cannot lie: reuse with another recipe, edited config.yaml, altered weights, leftovers of killed
writes, unwritable or misnamed paths and a full disk all end in one line (exit 2) or are repaired - never a silent
mix of settings or a traceback."""

import json
import logging
import os
import shutil
import subprocess
import sys
import textwrap
import time
from pathlib import Path

import pytest
import torch
import yaml

import kdistill.training.loop as loop_module
from kdistill.cli import main
from kdistill.config import builtin_recipes, from_dict
from kdistill.config.load import apply_override, parse_override, resolve_recipe_path
from kdistill.config.schema import Recipe
from kdistill.errors import CheckpointError, ConfigError
from kdistill.experiment.rundir import claim_run_dir
from kdistill.models import build_model
from kdistill.training import load_weights, save_weights
from kdistill.training.checkpoint import load_best

SRC = Path(__file__).resolve().parents[2] / "src"
TINY_RECIPE = """\
name: tiny
seed: 0
data: {dataset: digits, val_size: 200}
teacher:
  model: mlp
  model_args: {hidden: [32], dropout: 0.1, input_dropout: 0.0, max_norm: null}
  jitter: 1
  train: {epochs: 3, batch_size: 32, lr: 0.05}
student:
  model: mlp
  model_args: {hidden: [16]}
  train: {epochs: 3, batch_size: 32, lr: 0.05}
distill:
  method: hinton
  method_args: {temperature: 4.0}
report: {latency_repeats: 1, latency_batch_sizes: [1], plots: false}
"""
STAGES = ("teacher", "baseline", "distilled")


@pytest.fixture(autouse=True)
def quiet_logging():
    """main() calls logging.basicConfig; keep the root logger as it was for other tests."""
    root = logging.getLogger()
    handlers, level = list(root.handlers), root.level
    yield
    root.handlers[:] = handlers
    root.setLevel(level)


@pytest.fixture(scope="module")
def recipe_file(tmp_path_factory):
    path = tmp_path_factory.mktemp("recipe") / "tiny.yaml"
    path.write_text(TINY_RECIPE)
    return path


@pytest.fixture(scope="module")
def finished_run(tmp_path_factory, recipe_file):
    """One finished tiny run on digits (teacher, baseline, distilled), copied by the tests that change it."""
    torch.set_num_threads(1)
    run_dir = tmp_path_factory.mktemp("finished") / "run"
    assert main(["run", str(recipe_file), "--run-dir", str(run_dir)]) == 0
    return run_dir


@pytest.fixture
def run_copy(finished_run, tmp_path):
    return Path(shutil.copytree(finished_run, tmp_path / "run"))


@pytest.fixture
def no_training(monkeypatch):
    def refuse(*args, **kwargs):
        raise AssertionError("a finished stage was trained again")

    monkeypatch.setattr(loop_module, "start_epoch", refuse)


def error_line(capsys) -> str:
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1, err
    assert err[0].startswith("kdistill: error: ")
    return err[0]


def snapshot(folder: Path) -> dict[str, bytes]:
    return {str(path.relative_to(folder)): path.read_bytes() for path in sorted(folder.rglob("*")) if path.is_file()}


def alter_weights(path: Path) -> None:
    """A well-formed safetensors file with other values (what a hash check, not a parser, must catch)."""
    weights = load_weights(path)
    save_weights(path, {name: value + 0.5 for name, value in weights.items()})


# --- 1. reuse with another recipe -------------------------------------------------------------------------------

def test_reuse_with_another_seed_and_epochs_is_refused_before_writing(run_copy, recipe_file, capsys):
    before = snapshot(run_copy)
    code = main(["run", str(recipe_file), "seed=1", "teacher.train.epochs=4", "--run-dir", str(run_copy)])
    assert code == 2
    line = error_line(capsys)
    assert "seed: 0 -> 1" in line and "teacher.train.epochs: 3 -> 4" in line
    assert "--run-dir" in line and f"--resume {run_copy}" in line
    assert snapshot(run_copy) == before  # config.yaml and report.json still describe what was trained


def test_reuse_with_another_architecture_is_one_line_and_the_folder_stays_usable(run_copy, recipe_file, capsys,
                                                                                  no_training):
    before = snapshot(run_copy)
    code = main(["run", str(recipe_file), "student.model_args.hidden=[8]", "--run-dir", str(run_copy)])
    assert code == 2
    line = error_line(capsys)
    assert "baseline, distilled" in line and "student.model_args.hidden: [16] -> [8]" in line
    assert snapshot(run_copy) == before
    assert main(["run", "--resume", str(run_copy)]) == 0
    capsys.readouterr()
    assert main(["profile", str(run_copy), "--repeats", "1"]) == 0
    rows = capsys.readouterr().out.splitlines()[1:]
    assert [row.split()[0] for row in rows if not row.startswith("latency:")] == list(STAGES)


def test_reuse_that_changes_only_the_report_retrains_nothing(run_copy, recipe_file, no_training):
    done = {stage: (run_copy / stage / "done.json").read_bytes() for stage in STAGES}
    assert main(["run", str(recipe_file), "report.latency_repeats=2", "--run-dir", str(run_copy)]) == 0
    assert {stage: (run_copy / stage / "done.json").read_bytes() for stage in STAGES} == done
    assert "latency_repeats: 2" in (run_copy / "config.yaml").read_text()
    assert main(["run", "--resume", str(run_copy)]) == 0  # the rewritten config.yaml matches its fingerprint


def test_documented_cache_flow_reuses_the_teacher_stage(tmp_path, recipe_file):
    """README: `kdistill cache build RECIPE --run-dir D`, then `kdistill run --run-dir D RECIPE
    distill.cache.enabled=true` trains from that cache with the same teacher."""
    torch.set_num_threads(1)
    run_dir = tmp_path / "run"
    cache_settings = ["student.jitter=1", "distill.cache.views=2", "distill.cache.shard_size=512",
                      "teacher.train.epochs=1",
                      "student.train.epochs=1"]
    assert main(["cache", "build", str(recipe_file), *cache_settings, "--run-dir", str(run_dir)]) == 0
    teacher_done = (run_dir / "teacher" / "done.json").read_bytes()
    command = ["run", str(recipe_file), *cache_settings, "distill.cache.enabled=true", "--run-dir", str(run_dir)]
    assert main(command) == 0
    assert (run_dir / "teacher" / "done.json").read_bytes() == teacher_done
    assert json.loads((run_dir / "report.json").read_text())["teacher_cost"]["cache_views"] == 2
    assert main(["run", "--resume", str(run_dir)]) == 0


def test_hand_edited_config_is_refused_on_resume(run_copy, capsys):
    config = run_copy / "config.yaml"
    config.write_text(config.read_text().replace("lr: 0.05", "lr: 0.07", 1))
    assert main(["run", "--resume", str(run_copy)]) == 2
    line = error_line(capsys)
    assert "config.yaml was edited" in line and "teacher.train.lr: 0.05 -> 0.07" in line


def test_a_run_written_before_a_new_recipe_option_still_resumes(run_copy, capsys, no_training):
    """A run folder from before the schema gained an option (here: distill.cache.topk_values, teacher.warp) reads
    those options as their defaults today; that is not an edit (it was refused as one before the fix)."""
    from kdistill.experiment.fingerprint import digest

    record_path = run_copy / "fingerprint.json"
    record = json.loads(record_path.read_text())
    older = {key: value for key, value in record["config"].items()
             if key != "distill.cache.topk_values" and not key.startswith("teacher.warp.")}
    assert len(older) < len(record["config"])
    record.update(config=older, config_sha256=digest(older))
    record_path.write_text(json.dumps(record))
    config = run_copy / "config.yaml"
    lines = [line for line in config.read_text().splitlines() if "topk_values" not in line]
    config.write_text("\n".join(lines) + "\n")
    assert main(["run", "--resume", str(run_copy)]) == 0
    config.write_text(config.read_text().replace("lr: 0.05", "lr: 0.07", 1))  # a real edit is still refused
    assert main(["run", "--resume", str(run_copy)]) == 2
    assert "teacher.train.lr: 0.05 -> 0.07" in error_line(capsys)


# --- 2. exported and best weights are verified ----------------------------------------------------------------

def test_altered_export_is_refused_on_resume_and_the_named_fix_works(run_copy, finished_run, capsys, no_training):
    exported = run_copy / "distilled" / "student.safetensors"
    alter_weights(exported)
    assert main(["run", "--resume", str(run_copy)]) == 2
    line = error_line(capsys)
    assert str(exported) in line and "done.json" in line
    (run_copy / "distilled" / "done.json").unlink()  # the fix the message names
    assert main(["run", "--resume", str(run_copy)]) == 0
    assert exported.read_bytes() == (finished_run / "distilled" / "student.safetensors").read_bytes()


def test_export_that_does_not_fit_the_model_is_a_checkpoint_error(finished_run):
    other = build_model("mlp", (1, 8, 8), 10, hidden=[8])
    with pytest.raises(CheckpointError) as error:
        loop_module.finished_result(finished_run / "baseline", other)
    message = str(error.value)
    assert "\n" not in message and "student.safetensors" in message and "size mismatch" in message


def test_best_weights_changed_while_stopped_are_replaced_by_the_committed_ones(run_copy, finished_run,
                                                                               no_training):
    """A stage stopped after its last epoch but before exporting: the resumed run exports best.safetensors, which
    must be the one its checkpoint committed (also what a kill between writing a new best and committing leaves)."""
    stage = run_copy / "distilled"
    for name in ("done.json", "student.safetensors"):
        (stage / name).unlink()
    alter_weights(stage / "best.safetensors")
    assert main(["run", "--resume", str(run_copy)]) == 0
    assert (stage / "student.safetensors").read_bytes() == \
        (finished_run / "distilled" / "student.safetensors").read_bytes()


def test_best_weights_changed_after_the_checkpoint_are_refused_where_read(run_copy):
    stage = run_copy / "baseline"
    alter_weights(stage / "best.safetensors")
    with pytest.raises(CheckpointError) as error:
        load_best(stage, build_model("mlp", (1, 8, 8), 10, hidden=[16]))
    assert "best.safetensors" in str(error.value) and "latest.json" in str(error.value)


# --- 3. litter, nothing written before validation, file modes ------------------------------------------------

def test_leftovers_of_killed_writes_are_removed_when_the_folder_is_reused(run_copy, no_training):
    stale = [run_copy / ".config.yaml.abcd_123.tmp",
             run_copy / "teacher" / "checkpoints" / ".epoch-0004.safetensors.q1w2e3r4.tmp"]
    kept = [run_copy / ".notes.tmp", run_copy / "teacher" / "my.tmp"]  # not our temporaries' pattern
    for path in stale + kept:
        path.write_bytes(b"partial")
        os.utime(path, (time.time() - 60, time.time() - 60))
    assert main(["run", "--resume", str(run_copy)]) == 0
    assert not any(path.exists() for path in stale)
    assert all(path.exists() for path in kept)


@pytest.mark.parametrize("override", ["data.val_size=100000", "data.dataset=nope"])
def test_a_refused_recipe_creates_no_run_folder(tmp_path, recipe_file, capsys, override):
    run_dir = tmp_path / "run"
    assert main(["run", str(recipe_file), override, "--run-dir", str(run_dir)]) == 2
    error_line(capsys)
    assert not run_dir.exists()


def test_weights_get_the_same_permissions_as_every_other_file(tmp_path):
    old = os.umask(0o022)
    try:
        save_weights(tmp_path / "w.safetensors", {"a": torch.zeros(3)})
        (tmp_path / "plain.txt").write_text("x")
    finally:
        os.umask(old)
    modes = {path.name: path.stat().st_mode & 0o777 for path in tmp_path.iterdir()}
    assert modes == {"w.safetensors": 0o644, "plain.txt": 0o644}  # and no stray .tmpXXXXXX beside them


# --- 4. paths ------------------------------------------------------------------------------------------------

def test_run_folder_under_a_regular_file_is_one_line(tmp_path, recipe_file, capsys):
    (tmp_path / "somefile").write_text("not a folder")
    assert main(["run", str(recipe_file), "--run-dir", str(tmp_path / "somefile" / "x")]) == 2
    assert "somefile is a file" in error_line(capsys)


@pytest.mark.skipif(hasattr(os, "geteuid") and os.geteuid() == 0,
                    reason="root writes into a 0500 folder anyway; the path-under-a-file test covers the refusal")
def test_unwritable_parent_folder_is_one_line(tmp_path, recipe_file, capsys):
    parent = tmp_path / "locked"
    parent.mkdir()
    parent.chmod(0o500)
    try:
        assert main(["run", str(recipe_file), "--run-dir", str(parent / "run")]) == 2
        assert "no write permission" in error_line(capsys)
    finally:
        parent.chmod(0o700)


def test_a_non_empty_folder_that_is_no_run_is_not_used(tmp_path, recipe_file, capsys):
    (tmp_path / "notes.txt").write_text("mine")
    assert main(["run", str(recipe_file), "--run-dir", str(tmp_path)]) == 2
    assert "holds no kdistill run" in error_line(capsys)
    assert sorted(path.name for path in tmp_path.iterdir()) == ["notes.txt"]


def test_a_folder_named_like_a_recipe(tmp_path, monkeypatch, finished_run):
    monkeypatch.chdir(tmp_path)
    (tmp_path / "quick").mkdir()  # a built-in name: the built-in recipe, as documented
    assert resolve_recipe_path("quick") == builtin_recipes()["quick"]
    (tmp_path / "mine").mkdir()
    with pytest.raises(ConfigError, match="'mine' is a folder, not a recipe"):
        resolve_recipe_path("mine")
    (tmp_path / "folder.yaml").mkdir()
    with pytest.raises(ConfigError, match="is a folder, not a YAML file"):
        resolve_recipe_path("folder.yaml")
    with pytest.raises(ConfigError, match="--resume"):  # a run folder given where a recipe goes
        resolve_recipe_path(str(finished_run))


@pytest.mark.slow
def test_disk_full_while_checkpointing_is_one_line_and_the_previous_checkpoint_survives(tmp_path, recipe_file):
    """RLIMIT_FSIZE (SIGXFSZ ignored) makes writes past 4 KB fail with EFBIG, from the second teacher checkpoint on."""
    run_dir = tmp_path / "run"
    script = textwrap.dedent(f"""
        import resource, signal, sys
        import kdistill.training.loop as loop
        from kdistill.cli import main
        real_save = loop.save_checkpoint

        def save_then_fill_the_disk(*args, **kwargs):
            real_save(*args, **kwargs)
            signal.signal(signal.SIGXFSZ, signal.SIG_IGN)
            resource.setrlimit(resource.RLIMIT_FSIZE, (4096, resource.RLIM_INFINITY))

        loop.save_checkpoint = save_then_fill_the_disk
        sys.exit(main(["run", {str(recipe_file)!r}, "--run-dir", {str(run_dir)!r}]))
    """)
    env = {**os.environ, "PYTHONPATH": str(SRC), "OMP_NUM_THREADS": "1"}
    full = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True, env=env, timeout=120,
                          check=False)
    assert full.returncode == 2, full.stderr
    errors = [line for line in full.stderr.splitlines() if line.startswith("kdistill: error:")]
    assert len(errors) == 1 and "Traceback" not in full.stderr, full.stderr
    assert str(run_dir) in errors[0] and "free space" in errors[0]
    assert json.loads((run_dir / "teacher" / "checkpoints" / "latest.json").read_text())["epoch"] == 1
    assert not list(run_dir.rglob("*.tmp"))
    resumed = subprocess.run([sys.executable, "-m", "kdistill", "run", "--resume", str(run_dir)],
                             capture_output=True, text=True, env=env, timeout=120,
                          check=False)
    assert resumed.returncode == 0, resumed.stderr
    assert "teacher: resuming after epoch 1" in resumed.stderr


# --- the claim itself, without training ------------------------------------------------------------------------

def tiny(*overrides: str) -> Recipe:
    data = yaml.safe_load(TINY_RECIPE)
    for text in overrides:
        apply_override(data, *parse_override(text))
    return from_dict(Recipe, data)


def started(run_dir: Path, *stages: str) -> None:
    for stage in stages:
        (run_dir / stage).mkdir(parents=True, exist_ok=True)
        (run_dir / stage / "metrics.jsonl").write_text("{}\n")


def test_claim_keeps_records_of_stages_the_new_recipe_does_not_train(tmp_path):
    claim_run_dir(tmp_path, tiny("teacher.members=2"), resume=True)
    started(tmp_path, "teacher", "teacher-2")
    claim_run_dir(tmp_path, tiny(), resume=True)  # one teacher: "teacher" is member 1 of the ensemble, reused
    with pytest.raises(ConfigError, match="teacher-2 trained with other settings"):
        claim_run_dir(tmp_path, tiny("teacher.members=2", "teacher.jitter=0"), resume=True)


def test_claim_after_a_kill_between_its_two_writes_is_accepted(tmp_path):
    claim_run_dir(tmp_path, tiny(), resume=True)
    started(tmp_path, "teacher")
    old_config = (tmp_path / "config.yaml").read_text()
    claim_run_dir(tmp_path, tiny("student.train.epochs=5"), resume=True)  # compatible: the student has not started
    (tmp_path / "config.yaml").write_text(old_config)  # as if killed after fingerprint.json, before config.yaml
    claim_run_dir(tmp_path, tiny(), resume=True)


def test_claim_without_resume_refuses_a_folder_with_results(tmp_path):
    claim_run_dir(tmp_path, tiny(), resume=True)
    started(tmp_path, "baseline")
    with pytest.raises(ConfigError, match="already holds a run"):
        claim_run_dir(tmp_path, tiny(), resume=False)


def test_claim_of_a_legacy_folder_trusts_its_config(tmp_path):
    claim_run_dir(tmp_path, tiny(), resume=True)
    (tmp_path / "fingerprint.json").unlink()  # a run folder written before fingerprints
    started(tmp_path, "teacher")
    with pytest.raises(ConfigError, match="seed: 0 -> 2"):
        claim_run_dir(tmp_path, tiny("seed=2"), resume=True)
    claim_run_dir(tmp_path, tiny("distill.cache.enabled=true"), resume=True)
    assert (tmp_path / "fingerprint.json").exists()


def test_integer_and_float_spellings_of_a_value_are_the_same_setting(tmp_path):
    claim_run_dir(tmp_path, tiny(), resume=True)
    started(tmp_path, "distilled")
    claim_run_dir(tmp_path, tiny("distill.method_args.temperature=4"), resume=True)


"""kill -9 at any moment, then `kdistill run --resume`: the run ends with exactly the weights of an uninterrupted run.

Each run is a real `python -m kdistill run` process on a tiny digits recipe (a teacher cache on, so the distilled stage
trains from it). Kills land at random moments of training, and - through a wrapper that SIGKILLs the process at a
chosen atomic write, after cutting the temporary file in half - in the middle of a checkpoint write and of the
teacher-cache build. After the final resume no leftover temporary remains.
"""

import os
import random
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

pytestmark = pytest.mark.slow

SRC = Path(__file__).resolve().parents[2] / "src"
TINY_CACHED_RECIPE = """\
name: tiny-cached
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
  jitter: 1
  train: {epochs: 3, batch_size: 32, lr: 0.05}
distill:
  method: hinton
  method_args: {temperature: 4.0}
  cache: {enabled: true, views: 2, shard_size: 256}
report: {latency_repeats: 1, latency_batch_sizes: [1], plots: false}
"""
STAGES = ("teacher", "baseline", "distilled")
# `python -m kdistill ARGS`, except that the COUNT-th os.replace onto a path ending in SUFFIX first halves the
# temporary file and then SIGKILLs the process: a kill in the middle of that atomic write
KILL_AT_WRITE = """
import os, runpy, signal, sys
suffix, count = os.environ["KILL_AT_WRITE"].rsplit(":", 1)
seen = [0]
real_replace = os.replace

def replace(source, destination, *args, **kwargs):
    if str(destination).endswith(suffix):
        seen[0] += 1
        if seen[0] == int(count):
            os.truncate(source, os.path.getsize(source) // 2)
            os.kill(os.getpid(), signal.SIGKILL)
    return real_replace(source, destination, *args, **kwargs)

os.replace = replace
sys.argv = ["kdistill", *sys.argv[1:]]
runpy.run_module("kdistill", run_name="__main__", alter_sys=True)
"""


def environment(**extra: str) -> dict[str, str]:
    return {**os.environ, "PYTHONPATH": str(SRC), "OMP_NUM_THREADS": "1", **extra}


def kdistill(*args: str) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-m", "kdistill", *args], capture_output=True, text=True,
                          env=environment(), timeout=180, check=False)


def killed_at_write(suffix: str, count: int, *args: str) -> None:
    process = subprocess.run([sys.executable, "-c", KILL_AT_WRITE, *args], capture_output=True, text=True,
                             env=environment(KILL_AT_WRITE=f"{suffix}:{count}"), timeout=180,
                             check=False)
    assert process.returncode == -signal.SIGKILL, process.stderr[-2000:]


def killed_at_random(rng: random.Random, run_dir: Path, *args: str) -> None:
    """Start a run, wait until it trains (some stage has metrics), then kill -9 it after a random delay."""
    process = subprocess.Popen([sys.executable, "-m", "kdistill", *args], stdout=subprocess.DEVNULL,
                               stderr=subprocess.DEVNULL, env=environment())
    try:
        deadline = time.monotonic() + 120
        while not list(run_dir.glob("*/metrics.jsonl")) and process.poll() is None and time.monotonic() < deadline:
            time.sleep(0.02)
        time.sleep(rng.uniform(0.0, 1.5))
    finally:
        process.send_signal(signal.SIGKILL)
        process.wait(timeout=60)


def finish(run_dir: Path) -> None:
    resumed = kdistill("run", "--resume", str(run_dir))
    assert resumed.returncode == 0, resumed.stderr[-2000:]


def assert_same_as_reference(run_dir: Path, reference: Path) -> None:
    for stage in STAGES:
        name = f"{stage}/student.safetensors"
        assert (run_dir / name).read_bytes() == (reference / name).read_bytes(), name
    shards = sorted(path.name for path in (reference / "teacher-cache").glob("shard-*"))
    assert shards == sorted(path.name for path in (run_dir / "teacher-cache").glob("shard-*"))
    for name in shards:
        assert (run_dir / "teacher-cache" / name).read_bytes() == (reference / "teacher-cache" / name).read_bytes()
    assert not [path for path in run_dir.rglob("*") if path.name.endswith(".tmp") or path.name.startswith(".tmp")]


@pytest.fixture(scope="module")
def recipe_file(tmp_path_factory) -> Path:
    path = tmp_path_factory.mktemp("recipe") / "tiny-cached.yaml"
    path.write_text(TINY_CACHED_RECIPE)
    return path


@pytest.fixture(scope="module")
def reference(tmp_path_factory, recipe_file) -> Path:
    run_dir = tmp_path_factory.mktemp("reference") / "run"
    straight = kdistill("run", str(recipe_file), "--run-dir", str(run_dir))
    assert straight.returncode == 0, straight.stderr[-2000:]
    return run_dir


def test_kill_at_random_moments_then_resume_gives_the_uninterrupted_weights(tmp_path, recipe_file, reference):
    rng = random.Random(11)
    run_dir = tmp_path / "run"
    killed_at_random(rng, run_dir, "run", str(recipe_file), "--run-dir", str(run_dir))
    if (run_dir / "config.yaml").exists():  # killed after the run claimed its folder: kill its resume too
        killed_at_random(rng, run_dir, "run", "--resume", str(run_dir))
        finish(run_dir)
    else:  # killed before anything was written (a slow start): the same command starts it again
        assert kdistill("run", str(recipe_file), "--run-dir", str(run_dir)).returncode == 0
    assert_same_as_reference(run_dir, reference)


def test_kill_mid_checkpoint_write_and_mid_cache_build_then_resume(tmp_path, recipe_file, reference):
    run_dir = tmp_path / "run"
    # half of the teacher's epoch-2 checkpoint weights written, then killed: resumes from epoch 1
    killed_at_write("teacher/checkpoints/epoch-0002.safetensors", 1, "run", str(recipe_file), "--run-dir",
                    str(run_dir))
    assert list(run_dir.rglob(".epoch-0002.safetensors.*.tmp"))  # the half-written temporary it left
    # resumed, and killed while writing the third shard of the teacher cache (after two complete ones)
    killed_at_write("teacher-cache/shard-00002.json", 1, "run", "--resume", str(run_dir))
    assert (run_dir / "teacher-cache" / "shard-00001.json").exists()
    finish(run_dir)
    assert_same_as_reference(run_dir, reference)

"""Deployment benchmark: distilled students through ONNX export - accuracy fp32 -> int8, size, latency vs PyTorch and
vs the teacher - for the hinton-mnist MLP, a CNN on MNIST and tabular tree and boosting students on adult.

    OMP_NUM_THREADS=1 python benchmarks/deploy.py              # trains what is missing (the CNN: 31 min, train_or_reuse_seconds in deploy.json), then times
    OMP_NUM_THREADS=1 python benchmarks/deploy.py --repeats 20 # fewer timed calls

Networks: each setup is a `kdistill run` (a shortened schedule, in SETUPS) into benchmarks/runs/deploy-*/ (reused
when finished), then `kdistill export RUN_DIR --int8` (``kdistill.deploy.run_export.export_run``): the check on the
10,000 MNIST test images and the latency of ONNX fp32 / int8, the PyTorch student and the PyTorch teacher, timed in
turns in one process. Tabular: the fits `kdistill tabular fit --data adult.parquet --target income --student tree|boosting
--onnx` makes (LightGBM teacher, Gibbs augmentation, seed 0, 20% test split), exported with their category handling
and labels, against scikit-learn's predict_proba and the LightGBM teacher.

Writes benchmarks/results/deploy.json and deploy.md. Latency: median and IQR over --repeats calls after --warmup calls,
1 thread everywhere (ONNX Runtime intra-op, torch, LightGBM, OpenMP).
"""

from __future__ import annotations

import os

os.environ.setdefault("OMP_NUM_THREADS", "1")  # before numpy / torch / LightGBM start their thread pools

import argparse  # noqa: E402
import json  # noqa: E402
import sys  # noqa: E402
import time  # noqa: E402
from pathlib import Path  # noqa: E402

import numpy as np  # noqa: E402

sys.path.insert(0, str(Path(__file__).resolve().parent))

from common import describe_provenance, mark_unrecorded, provenance, provenance_union

from kdistill.atomic import atomic_write_text  # noqa: E402
from kdistill.config import load_recipe  # noqa: E402
from kdistill.deploy.run_export import export_run  # noqa: E402
from kdistill.deploy.runtime import session  # noqa: E402
from kdistill.deploy.timing import interleaved_latency  # noqa: E402
from kdistill.experiment import run_experiment  # noqa: E402

HERE = Path(__file__).resolve().parent
RUNS, RESULTS = HERE / "runs", HERE / "results"
THREADS = 1
SEED = 0
# Shortened schedules (the point here is deployment, not the last fraction of a point of accuracy): see each run's
# config.yaml.
SETUPS = {
    "deploy-hinton-mnist": ("hinton-mnist", [
        "teacher.train.epochs=10", "student.train.epochs=6", "report.plots=false", "report.latency_repeats=5"]),
    "deploy-cnn-mnist": ("quick", [
        "teacher.model=resnet20", "teacher.model_args={}", "teacher.train.epochs=2", "teacher.train.lr=0.05",
        "student.model=cnn", "student.model_args={channels: [32, 64], hidden: 128}", "student.train.epochs=3",
        "report.plots=false", "report.latency_repeats=5"]),
}
TABULAR = {"dataset": "adult", "target": "income", "teacher": "lightgbm", "augmentation": "gibbs", "multiplier": 2.0,
           "test_size": 0.2, "seed": SEED}
# cell -> (student, student_params, the `kdistill tabular fit` flags that give it)
TABULAR_STUDENTS = {
    "tabular-adult": ("tree", {"max_depth": 6, "max_leaf_nodes": None}, "--student tree --max-depth 6"),
    "tabular-adult-boosting": ("boosting", None, "--student boosting"),
}
TABULAR_BATCHES = (1, 256)


def network_cell(folder: str, repeats: int, warmup: int) -> dict:
    recipe_name, overrides = SETUPS[folder]
    recipe = load_recipe(recipe_name, [*overrides, f"seed={SEED}"])
    run_dir = RUNS / folder
    started = time.perf_counter()
    run_experiment(recipe, run_dir, resume=True)  # finished stages are reused
    trained = time.perf_counter() - started
    report = export_run(run_dir, int8=True, threads=THREADS, repeats=repeats, warmup=warmup)
    return {"kind": "network", "recipe": recipe_name, "overrides": overrides, "seed": SEED,
            "run_dir": str(run_dir.relative_to(HERE.parent)), "train_or_reuse_seconds": trained, **report}


def tabular_cell(name: str, repeats: int, warmup: int) -> dict:
    """What `kdistill tabular fit ... --onnx` does, in this process so the teacher can be timed beside it."""
    import kdistill
    from sklearn.model_selection import train_test_split

    from kdistill.deploy.tabular import tabular_feeds
    from kdistill.tabular import DistilledClassifier
    from kdistill.tabular.datasets import load_tabular
    from kdistill.tabular.export import save_student
    from kdistill.tabular.report import classification_metrics, tree_shape

    X, y, _ = load_tabular(TABULAR["dataset"])
    X_train, X_test, y_train, y_test = train_test_split(X, y, test_size=TABULAR["test_size"], stratify=y,
                                                        random_state=SEED)
    student, student_params, _ = TABULAR_STUDENTS[name]
    model = DistilledClassifier(teacher=TABULAR["teacher"], student=student, student_params=student_params,
                                augmentation=TABULAR["augmentation"], augmentation_multiplier=TABULAR["multiplier"],
                                random_state=SEED).fit(X_train, y_train)
    folder = RUNS / f"deploy-{name}"
    folder.mkdir(parents=True, exist_ok=True)
    exported = kdistill.export(model, folder / "student.onnx", X=X_test)
    skops_path = save_student(model, folder / "student.skops")
    teacher = model.teacher_
    if hasattr(teacher, "set_params") and "n_jobs" in teacher.get_params():
        teacher.set_params(n_jobs=THREADS)
    runner = session(folder / "student.onnx", THREADS)
    columns = json.loads(runner.get_modelmeta().custom_metadata_map["columns"])
    classes = np.asarray(model.classes_)
    onnx_probabilities = runner.run(["probabilities"], tabular_feeds(X_test, columns))[0]
    accuracy = {"onnx_fp32": classification_metrics(y_test, onnx_probabilities, classes),
                "sklearn_student": classification_metrics(y_test, model.predict_proba(X_test), classes),
                "teacher": classification_metrics(y_test, teacher.predict_proba(X_test), classes)}
    latency = {}
    for size in TABULAR_BATCHES:
        rows = X_test.iloc[:size]
        feeds = tabular_feeds(rows, columns)
        latency[str(size)] = interleaved_latency({
            "onnx_fp32": lambda feeds=feeds: runner.run(["label", "probabilities"], feeds),
            "sklearn_student": lambda rows=rows: model.predict_proba(rows),
            "teacher": lambda rows=rows: teacher.predict_proba(rows),
        }, repeats, warmup)
    return {"kind": "tabular", "settings": TABULAR, "cell": name, "rows": {"train": len(X_train), "test": len(X_test)},
            "check": exported["check"], "accuracy": accuracy, "latency_ms": latency,
            "files": {"onnx_fp32": exported["files"]["onnx"]["size_bytes"], "sklearn_student": skops_path.stat().st_size,
                      "teacher": teacher_bytes(teacher)},
            "student": student, "shape": tree_shape(model), "teacher_type": type(teacher).__name__}


def teacher_bytes(teacher) -> int:
    """The teacher saved as skops (what kdistill loads), or LightGBM's own model text when skops cannot save it."""
    from kdistill.tabular.report import model_size_bytes

    size = model_size_bytes(teacher)
    return size if size is not None else len(teacher.booster_.model_to_string().encode())


def ratio(latency: dict, size: str, slow: str, fast: str) -> float | None:
    if slow not in latency[size] or fast not in latency[size]:
        return None
    return latency[size][slow]["median_ms"] / latency[size][fast]["median_ms"]


def render(results: dict) -> str:
    lines = ["# Deployment: distilled students through ONNX export", "",
             "Produced by `OMP_NUM_THREADS=1 python benchmarks/deploy.py` (each cell's own invocation is listed at "
             f"the end) on a machine shared with other jobs, {THREADS} thread for every runtime. Latency: median (IQR) ms per call "
             f"over {results['repeats']} calls after {results['warmup']} warm-up calls, all variants of a model timed "
             "in turns in one process. Seed 0 throughout (one seed: these are deployment numbers, not accuracy "
             "claims).", ""]
    lines += ["## Networks (MNIST, 10,000 test images)", "",
              "| student | teacher | acc PyTorch % | acc ONNX fp32 % | acc ONNX int8 % | int8 - fp32 (points) | "
              "max logit diff fp32 | int8 label agreement % | int8 mode | MB fp32 / int8 / teacher |",
              "|---|---|---:|---:|---:|---:|---:|---:|---|---|"]
    networks = [cell for cell in results["cells"].values() if cell["kind"] == "network"]
    for cell in networks:
        acc, files, check = cell["check"]["accuracy"], cell["files"], cell["check"]
        lines.append(
            f"| {describe(cell['student'])} | {describe(cell['teacher'])} | {100 * acc['pytorch_student']:.2f} | "
            f"{100 * acc['onnx_fp32']:.2f} | {100 * acc['onnx_int8']:.2f} | "
            f"{100 * (acc['onnx_int8'] - acc['onnx_fp32']):+.2f} | {check['onnx_fp32']['max_abs_diff']:.1e} | "
            f"{100 * check['onnx_int8']['label_agreement']:.2f} | {cell['int8_mode']} | "
            f"{files['onnx_fp32']['size_bytes'] / 1e6:.2f} / {files['onnx_int8']['size_bytes'] / 1e6:.2f} / "
            f"{files['pytorch_teacher']['size_bytes'] / 1e6:.2f} |")
    lines += ["", "| student | batch | ONNX fp32 | ONNX int8 | PyTorch student | PyTorch teacher | "
              "PyTorch / int8 | teacher / int8 | teacher / fp32 |", "|---|---:|---:|---:|---:|---:|---:|---:|---:|"]
    for cell in networks:
        latency = cell["latency_ms"]
        for size in latency:
            cells = [f"{latency[size][name]['median_ms']:.3f} ({latency[size][name]['iqr_ms']:.3f})"
                     for name in ("onnx_fp32", "onnx_int8", "pytorch_student", "pytorch_teacher")]
            ratios = [ratio(latency, size, *pair) for pair in (("pytorch_student", "onnx_int8"),
                                                               ("pytorch_teacher", "onnx_int8"),
                                                               ("pytorch_teacher", "onnx_fp32"))]
            lines.append(f"| {describe(cell['student'])} | {size} | " + " | ".join(cells) + " | "
                         + " | ".join(f"{value:.1f}x" for value in ratios) + " |")
    tabulars = [cell for cell in results["cells"].values() if cell["kind"] == "tabular"]
    if tabulars:
        settings = tabulars[0]["settings"]
        lines += ["", f"## Tabular (adult, {tabulars[0]['rows']['test']:,} test rows)", "",
                  f"`kdistill tabular fit --data adult.parquet --target income --teacher {settings['teacher']} "
                  f"--augmentation {settings['augmentation']} --multiplier {settings['multiplier']:g} --seed "
                  f"{settings['seed']} --onnx` plus the student flags below, with a {tabulars[0]['teacher_type']} "
                  "teacher (400 trees of 63 leaves). The ONNX graph holds the category codes, the trees, the "
                  "un-tempering and the labels; no int8 (trees have no weights to quantise). ONNX timings are "
                  "`session.run` on prepared column arrays; scikit-learn and LightGBM take the DataFrame.", "",
                  "| model | accuracy % | AUC | file MB | batch 1 ms | batch 256 ms | teacher / model (b1, b256) |",
                  "|---|---:|---:|---:|---:|---:|---|"]
        for cell in tabulars:
            flags = TABULAR_STUDENTS[cell["cell"]][2]
            shape = ", ".join(f"{key.replace('_', ' ')} {value}" for key, value in cell["shape"].items())
            for name, label in (("onnx_fp32", f"ONNX student (`{flags}`; {shape})"),
                                ("sklearn_student", "same student, scikit-learn (skops file)"),
                                ("teacher", "LightGBM teacher")):
                acc, latency = cell["accuracy"][name], cell["latency_ms"]
                timing = " | ".join(f"{latency[size][name]['median_ms']:.3f} ({latency[size][name]['iqr_ms']:.3f})"
                                    for size in latency)
                ratios = ", ".join(f"{ratio(latency, size, 'teacher', name):.1f}x" for size in latency)
                lines.append(f"| {label} | {100 * acc['accuracy']:.2f} | {acc['auc']:.4f} | "
                             f"{cell['files'][name] / 1e6:.3f} | {timing} | {ratios if name != 'teacher' else '-'} |")
        lines += [""] + [f"ONNX vs predict_proba, {cell['student']} student, all test rows: max |difference| "
                         f"{cell['check']['max_abs_diff']:.1e}, label agreement "
                         f"{100 * cell['check']['label_agreement']:.2f}%." for cell in tabulars]
    lines += ["", "Schedules (shortened): " + "; ".join(f"`{name}`: {SETUPS[name][0]} "
                                                       f"{' '.join(SETUPS[name][1][:-2])}" for name in SETUPS) + ".",
              "", "Cells: " + "; ".join(f"`{name}` by `{cell.get('command', '?')}` ({cell.get('finished', '?')})"
                                       for name, cell in results["cells"].items()) + ".",
              "", describe_provenance(results), ""]
    return "\n".join(lines)


def describe(section: dict) -> str:
    args = section.get("model_args") or {}
    shown = ", ".join(f"{key}={value}" for key, value in args.items() if key in ("hidden", "channels"))
    count = section["params"]
    return f"{section['model']}({shown}) " + (f"{count / 1e6:.2f}M" if count >= 1e6 else f"{count / 1e3:.0f}k")


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--repeats", type=int, default=100)
    parser.add_argument("--warmup", type=int, default=10)
    parser.add_argument("--only", choices=[*SETUPS, *TABULAR_STUDENTS], nargs="*", default=None)
    args = parser.parse_args()
    path = RESULTS / "deploy.json"
    results = json.loads(path.read_text()) if path.exists() else {"cells": {}}
    results.update(command="OMP_NUM_THREADS=1 python benchmarks/deploy.py" + "".join(
        f" {arg}" for arg in sys.argv[1:]), repeats=args.repeats, warmup=args.warmup, threads=THREADS, seed=SEED)
    for name in args.only or [*SETUPS, *TABULAR_STUDENTS]:
        print(f"== {name}", flush=True)
        results["cells"][name] = (tabular_cell(name, args.repeats, args.warmup) if name in TABULAR_STUDENTS
                                  else network_cell(name, args.repeats, args.warmup))
        results["cells"][name].update(command=results["command"], finished=time.strftime("%Y-%m-%d %H:%M UTC",
                                                                                            time.gmtime()),
                                      provenance=provenance(SEED))
        results["provenance"] = provenance_union(mark_unrecorded(results["cells"]))
        atomic_write_text(path, json.dumps(results, indent=2))  # each finished cell is kept
    atomic_write_text(RESULTS / "deploy.md", render(results))
    print(render(results))
    return 0


if __name__ == "__main__":
    sys.exit(main())

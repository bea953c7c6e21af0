"""``kdistill export RUN_DIR``: a run's student to ONNX (fp32, optionally int8), checked on the run's test set.

    RUN_DIR/export/student.onnx        fp32, dynamic batch: input "inputs" (B, *input_shape), output "logits" (B, C)
    RUN_DIR/export/student.int8.onnx   with --int8
    RUN_DIR/export/export.json|.md     the check and the deployment report

The check runs the PyTorch student and each ONNX file on every test input: max |logit difference| and label
agreement against PyTorch, and test accuracy. The report adds file sizes and latency at batch 1 and 256 (ONNX
Runtime fp32 / int8, the PyTorch student, the PyTorch teacher), timed in turns in this process.
"""

from __future__ import annotations

import logging
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import numpy as np
import torch
from torch import nn

from kdistill.batch import as_batch
from kdistill.deploy.network import OUTPUT, check_graph_parameters, export_module, graph_parameters
from kdistill.deploy.quantize import describe, quantize
from kdistill.deploy.report import write_report
from kdistill.deploy.runtime import machine, session, versions
from kdistill.deploy.timing import interleaved_latency
from kdistill.errors import CheckpointError, ConfigError
from kdistill.outputs import logits_of

log = logging.getLogger("kdistill")
FP32_TOLERANCE = 1e-3  # max |logit difference| allowed, relative to the largest |logit| (at least 1)
BATCH_SIZES = (1, 256)


def export_run(run_dir: str | Path, out: str | Path | None = None, stage: str | None = None, int8: bool = False,
               int8_mode: str = "auto", threads: int = 1, repeats: int = 50, warmup: int = 5, latency: bool = True,
               calibration_rows: int = 512, batch_size: int = 512) -> dict[str, Any]:
    """Export the student of ``run_dir`` and return the report (also written to ``OUT/export.json`` and ``.md``)."""
    from kdistill.experiment.rundir import read_config
    from kdistill.experiment.splits import prepare_data
    from kdistill.experiment.student import EXPORT, finished_stages, load_student, read_model_description

    run_dir = Path(run_dir)
    if threads < 1 or repeats < 2 or calibration_rows < 1:
        raise ConfigError(f"need threads >= 1, repeats >= 2 and calibration rows >= 1; got {threads}, {repeats}, "
                          f"{calibration_rows}")
    if (run_dir / "student.skops").exists() and not (run_dir / "model.json").exists():
        raise ConfigError(f"{run_dir} holds a tabular student: export it with `kdistill tabular fit ... --onnx`, or "
                          "kdistill.export(kdistill.tabular.export.load_student(PATH), 'student.onnx', X=test_rows)")
    if out is not None and Path(out).suffix == ".onnx":
        raise ConfigError(f"a run's export is a folder (student.onnx, student.int8.onnx, export.md); got {out}")
    description = read_model_description(run_dir)
    student = load_student(run_dir, stage)
    stage = stage or ("finetuned" if "finetuned" in finished_stages(run_dir) else "distilled")
    teacher = load_student(run_dir, "teacher") if "teacher" in finished_stages(run_dir) else None
    recipe = read_config(run_dir)
    data = prepare_data(recipe.data, recipe.seed)
    out = Path(out) if out is not None else run_dir / "export"
    if out.exists() and not out.is_dir():
        raise ConfigError(f"--out {out} is a file; give a folder for the exported model and its report")
    out.mkdir(parents=True, exist_ok=True)

    example = data.example_inputs(2)
    section = description["teacher" if stage == "teacher" else "student"]  # what was exported
    metadata = {"class_names": description["class_names"], "input_shape": description["input_shape"],
                "model": {key: section[key] for key in ("model", "model_args")}, "stage": stage, "producer": "kdistill", "input": "inputs",
                "output": "logits (B, C); class of row i = class_names[argmax]"}
    fp32_path = export_module(student, example, out / "student.onnx", metadata)
    graph = graph_parameters(fp32_path, student)
    check_graph_parameters(graph, fp32_path)
    files = {"onnx_fp32": describe(fp32_path)}
    sessions = {"onnx_fp32": session(fp32_path, threads)}
    mode = None
    if int8:
        int8_path = out / "student.int8.onnx"
        mode = quantize(fp32_path, int8_path, int8_mode, calibration_batches(data, calibration_rows))
        files["onnx_int8"] = describe(int8_path, mode=mode)
        sessions["onnx_int8"] = session(int8_path, threads)
    files["pytorch_student"] = describe(run_dir / stage / EXPORT)
    if teacher is not None:
        files["pytorch_teacher"] = describe(run_dir / "teacher" / EXPORT)
        files["pytorch_teacher"]["size_bytes"] = teacher_bytes(run_dir, description)

    log.info("exported %s; checking it on the test set", ", ".join(str(Path(f["path"]).name) for f in files.values()
                                                                    if f["path"].endswith(".onnx")))
    check = compare_on_test_set(student, teacher, sessions, inputs_of(data.eval_loader("test", batch_size)))
    report = {
        "run_dir": str(run_dir), "stage": stage, "format": "onnx", "int8_mode": mode, "files": files, "graph": graph,
        "student": {**section, "params": sum(p.numel() for p in student.parameters())},
        "teacher": None if teacher is None else {**description["teacher"],
                                                 "params": sum(p.numel() for p in teacher.parameters())},
        "check": check, "threads": threads, "repeats": repeats, "warmup": warmup,
        "versions": versions(), "machine": machine(threads),
    }
    limit = FP32_TOLERANCE * max(1.0, check["max_abs_logit"])
    if check["onnx_fp32"]["max_abs_diff"] > limit:
        write_report(out, report)  # the numbers, for the bug report
        raise CheckpointError(f"{fp32_path} differs from the PyTorch student by {check['onnx_fp32']['max_abs_diff']:.3g}"
                              f" in the logits (allowed {limit:.3g}); see {out / 'export.json'} and report it as a "
                              "kdistill bug")
    if latency:
        log.info("timing %s at batch sizes %s (%d repeats, %d thread(s))", ", ".join(check["accuracy"]),
                 BATCH_SIZES, repeats, threads)
        report["latency_ms"] = measure_latency(student, teacher, sessions, data.example_inputs(1), threads,
                                               repeats, warmup)
    write_report(out, report)
    return report


def teacher_bytes(run_dir: Path, description: dict[str, Any]) -> int:
    """All members' weight files for an ensemble teacher."""
    from kdistill.experiment.student import EXPORT

    members = int(description["teacher"].get("members", 1) or 1)
    folders = ["teacher"] + [f"teacher-{i + 1}" for i in range(1, members)]
    return sum((run_dir / folder / EXPORT).stat().st_size for folder in folders)


def inputs_of(batches: Any) -> Iterator[tuple[torch.Tensor, torch.Tensor]]:
    for raw in batches:
        batch = as_batch(raw)
        if not isinstance(batch["inputs"], torch.Tensor):
            raise ConfigError("ONNX export takes models with one input tensor; this data gives several inputs")
        yield batch["inputs"].float(), batch["labels"]


def calibration_batches(data: Any, rows: int, batch_size: int = 64) -> list[np.ndarray]:
    """Up to ``rows`` validation inputs (carved from the training set; never test inputs) for static int8."""
    batches, taken = [], 0
    for inputs, _ in inputs_of(data.eval_loader("val", batch_size)):
        batches.append(inputs[: rows - taken].numpy())
        taken += len(batches[-1])
        if taken >= rows:
            break
    return batches


def compare_on_test_set(student: nn.Module, teacher: nn.Module | None, sessions: dict[str, Any],
                        batches: Any) -> dict[str, Any]:
    """Each ONNX file's max |logit difference| and label agreement with the PyTorch student over ``batches`` of
    ``(inputs, labels)``, and every variant's accuracy (left out when the labels are None)."""
    correct = {name: 0 for name in ["pytorch_student", *sessions, *(["pytorch_teacher"] if teacher else [])]}
    agree = {name: 0 for name in sessions}
    max_diff = {name: 0.0 for name in sessions}
    rows, max_logit, labelled = 0, 0.0, True
    with torch.inference_mode():
        for inputs, labels in batches:
            labelled = labelled and labels is not None
            reference = logits_of(student(inputs))
            predicted = reference.argmax(-1)
            outputs = {"pytorch_student": predicted}
            if teacher is not None and labelled:
                outputs["pytorch_teacher"] = teacher(inputs).argmax(-1)
            for name, runner in sessions.items():
                logits = torch.from_numpy(runner.run([OUTPUT], {"inputs": inputs.numpy()})[0])
                max_diff[name] = max(max_diff[name], float((logits - reference).abs().max()))
                agree[name] += int((logits.argmax(-1) == predicted).sum())
                outputs[name] = logits.argmax(-1)
            if labelled:
                for name, labels_out in outputs.items():
                    correct[name] += int((labels_out == labels).sum())
            rows += len(inputs)
            max_logit = max(max_logit, float(reference.abs().max()))
    check: dict[str, Any] = {"rows": rows, "max_abs_logit": max_logit}
    if labelled:
        check["accuracy"] = {name: count / rows for name, count in correct.items()}
    for name in sessions:
        check[name] = {"max_abs_diff": max_diff[name], "label_agreement": agree[name] / rows}
    return check


def measure_latency(student: nn.Module, teacher: nn.Module | None, sessions: dict[str, Any], single: torch.Tensor,
                    threads: int, repeats: int, warmup: int) -> dict[str, Any]:
    """``{batch size: {variant: latency summary}}``; torch runs with ``threads`` threads like ONNX Runtime."""
    previous = torch.get_num_threads()
    torch.set_num_threads(threads)
    try:
        results = {}
        for size in BATCH_SIZES:
            batch = single.float().repeat(size, *([1] * (single.dim() - 1)))  # a real copy, like profile.latency_ms
            feed = {"inputs": batch.numpy()}
            variants = {name: (lambda runner=runner: runner.run([OUTPUT], feed)) for name, runner in sessions.items()}
            variants["pytorch_student"] = lambda: student(batch)
            if teacher is not None:
                variants["pytorch_teacher"] = lambda: teacher(batch)
            with torch.inference_mode():
                results[str(size)] = interleaved_latency(variants, repeats, warmup)
        return results
    finally:
        torch.set_num_threads(previous)

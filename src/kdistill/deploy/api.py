"""``kdistill.export``: one entry point for a run directory, a torch module or a fitted tabular student."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from kdistill.errors import ConfigError

FORMATS = ("onnx",)


def export(source: Any, path: str | Path | None = None, *, format: str = "onnx", int8: bool = False,
           int8_mode: str = "auto", stage: str | None = None, example_inputs: Any = None,
           calibration_inputs: Any = None, X: Any = None, threads: int = 1, repeats: int = 50,
           latency: bool = True) -> dict[str, Any]:
    """Export a student to ONNX and check it; return a report dict (``files``, ``check``, ...).

    ``source`` is one of:

    - a run directory of ``kdistill run`` (str / Path): its student (``stage``, default distilled / finetuned) goes
      to ``path`` (a folder; default ``RUN_DIR/export``) as ``student.onnx`` (+ ``student.int8.onnx`` with
      ``int8=True``), checked on the run's test set, with ``export.json`` / ``export.md`` (sizes, and with
      ``latency`` the timings of fp32 / int8 / PyTorch student / teacher at batch 1 and 256 on ``threads`` threads);
    - a torch ``nn.Module`` classifier: written to ``path`` (a file, default ``student.onnx``); ``example_inputs``
      (B, ...) real inputs fix the input shape and are the check (and, for static int8, the calibration data unless
      ``calibration_inputs`` is given);
    - a fitted ``DistilledClassifier`` / ``DistilledRegressor``: written to ``path`` with its category handling and
      class labels; ``X`` (a DataFrame of real rows) is the check against ``predict_proba`` / ``predict``.

    ``int8_mode``: auto (static for convolutional graphs, dynamic otherwise), dynamic or static. The files run with
    nothing but onnxruntime and numpy.
    """
    if format not in FORMATS:
        raise ConfigError(f"unknown export format {format!r}; choose one of: {', '.join(FORMATS)}")
    if isinstance(source, (str, Path)):
        from kdistill.deploy.run_export import export_run

        return export_run(source, path, stage=stage, int8=int8, int8_mode=int8_mode, threads=threads,
                          repeats=repeats, latency=latency)
    if hasattr(source, "student_") and hasattr(source, "encoder_"):
        if int8:
            raise ConfigError("int8 quantisation applies to networks; a tabular student's trees and small linear "
                              "layers export exactly in float64 - drop int8")
        return export_tabular_student(source, Path(path or "student.onnx"), X)
    import torch

    if isinstance(source, torch.nn.Module):
        return export_torch_module(source, Path(path or "student.onnx"), example_inputs, int8, int8_mode,
                                   calibration_inputs, threads)
    raise ConfigError(f"cannot export a {type(source).__name__}: pass a run directory, a torch nn.Module or a fitted "
                      "DistilledClassifier / DistilledRegressor")


def export_tabular_student(model: Any, path: Path, X: Any) -> dict[str, Any]:
    from kdistill.deploy.quantize import describe
    from kdistill.deploy.tabular import check_tabular, export_tabular

    export_tabular(model, path)
    report: dict[str, Any] = {"format": "onnx", "files": {"onnx": describe(path)}}
    if X is not None:
        report["check"] = check_tabular(model, path, X)
    return report


def export_torch_module(model: Any, path: Path, example_inputs: Any, int8: bool, int8_mode: str,
                        calibration_inputs: Any, threads: int) -> dict[str, Any]:
    import torch

    from kdistill.deploy.network import check_graph_parameters, export_module, graph_parameters
    from kdistill.deploy.quantize import describe, quantize
    from kdistill.deploy.run_export import compare_on_test_set
    from kdistill.deploy.runtime import session

    if example_inputs is None:
        raise ConfigError("exporting a torch module needs example_inputs=(B, ...) real inputs it takes")
    example_inputs = torch.as_tensor(example_inputs).float()
    metadata = {"input_shape": list(example_inputs.shape[1:]), "producer": "kdistill"}
    if getattr(model, "class_names", None) is not None:
        metadata["class_names"] = list(model.class_names)
    export_module(model, example_inputs, path, metadata)
    graph = graph_parameters(path, model)
    check_graph_parameters(graph, path)
    files = {"onnx_fp32": describe(path)}
    sessions = {"onnx_fp32": session(path, threads)}
    if int8:
        int8_path = path.with_name(f"{path.stem}.int8{path.suffix}")
        calibration = example_inputs if calibration_inputs is None else torch.as_tensor(calibration_inputs).float()
        mode = quantize(path, int8_path, int8_mode, [batch.numpy() for batch in calibration.split(64)])
        files["onnx_int8"] = describe(int8_path, mode=mode)
        sessions["onnx_int8"] = session(int8_path, threads)
    check = compare_on_test_set(model.eval(), None, sessions, [(batch, None) for batch in example_inputs.split(256)])
    return {"format": "onnx", "files": files, "graph": graph, "check": check}

"""Ship a student: ONNX export (fp32 and int8), checked against the model it came from, with a deployment report.

    kdistill.export("runs/quick-20261123-140000", int8=True)     # a run's student -> RUN_DIR/export/
    kdistill.export(model, "student.onnx", example_inputs=x)      # any torch module
    kdistill.export(distilled_classifier, "student.onnx", X=X_test)  # a tabular student with labels and categories

The exported files need nothing but ``onnxruntime`` (and numpy) to run. Heavy libraries load only when used.
"""

from kdistill.deploy.api import export  # light: torch, onnx and onnxruntime load inside it, when used

__all__ = ["export"]

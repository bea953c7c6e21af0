"""The exported files run in a fresh virtualenv holding only onnxruntime and numpy: no torch, scikit-learn, kdistill."""

import json
import subprocess
import sys
import textwrap

import numpy as np
import pytest
import torch
from torch import nn

import kdistill
from kdistill.deploy.tabular import columns_of, with_missing_markers
from kdistill.tabular import DistilledClassifier

from tabular.conftest import mixed_table  # tests/ is on sys.path (rootdir-based imports)

RUNTIME = ["onnxruntime==1.32.0", "numpy"]
CONSUMER = textwrap.dedent("""
    import json, sys
    import numpy as np
    import onnxruntime as ort

    for name in ("torch", "sklearn", "pandas", "kdistill"):
        try:
            __import__(name)
            sys.exit(f"{name} is importable in the runtime-only venv")
        except ImportError:
            pass
    folder = sys.argv[1]
    network = ort.InferenceSession(f"{folder}/net.onnx")
    images = np.load(f"{folder}/images.npy")
    np.save(f"{folder}/logits.npy", network.run(["logits"], {"inputs": images})[0])
    classes = json.loads(network.get_modelmeta().custom_metadata_map["class_names"])

    tabular = ort.InferenceSession(f"{folder}/tabular.onnx")
    columns = json.loads(tabular.get_modelmeta().custom_metadata_map["columns"])
    rows = json.load(open(f"{folder}/rows.json"))
    feeds = {}
    for column in columns:
        values = rows[column["name"]]
        if column["kind"] == "category":  # text; a missing value is the empty string
            feeds[column["name"]] = np.array(["" if v is None else str(v) for v in values], dtype=object).reshape(-1, 1)
        else:  # float64; a missing value is NaN
            feeds[column["name"]] = np.array([np.nan if v is None else v for v in values], dtype=np.float64).reshape(-1, 1)
    labels, probabilities = tabular.run(["label", "probabilities"], feeds)
    json.dump({"labels": labels.tolist(), "probabilities": probabilities.tolist(), "classes": classes},
              open(f"{folder}/tabular_out.json", "w"))
""")


@pytest.fixture(scope="module")
def runtime_python(tmp_path_factory):
    folder = tmp_path_factory.mktemp("runtime-venv")
    subprocess.run([sys.executable, "-m", "venv", str(folder)], check=True, capture_output=True)
    python = folder / "bin" / "python"
    install = subprocess.run([str(python), "-m", "pip", "install", "-q", *RUNTIME], capture_output=True, text=True)
    if install.returncode != 0:
        last = (install.stderr.strip().splitlines() or ["no output"])[-1]
        pytest.skip(f"pip cannot install {' '.join(RUNTIME)} here (offline, no local mirror?): {last}")
    return python


@pytest.mark.slow
def test_exported_network_and_tabular_student_run_with_onnxruntime_alone(runtime_python, tmp_path, digits):
    torch.manual_seed(0)
    network = nn.Sequential(nn.Flatten(), nn.Linear(64, 32), nn.ReLU(), nn.Linear(32, 10)).eval()
    network.class_names = [str(d) for d in range(10)]
    kdistill.export(network, tmp_path / "net.onnx", example_inputs=digits.test_images[:16])
    images = digits.test_images[:20].numpy()
    np.save(tmp_path / "images.npy", images)

    X, y = mixed_table(300)
    model = DistilledClassifier(teacher="random_forest", augmentation=None, random_state=0).fit(X[:250], y[:250])
    kdistill.export(model, tmp_path / "tabular.onnx")
    rows = with_missing_markers(X[250:].reset_index(drop=True), model.encoder_)
    plain = {name: [None if value is None or value != value else (value.item() if hasattr(value, "item") else value)
                    for value in rows[name].astype(object)] for name in rows.columns}
    (tmp_path / "rows.json").write_text(json.dumps(plain))
    (tmp_path / "consumer.py").write_text(CONSUMER)

    # -I: isolated from PYTHONPATH and user site-packages, so only the venv's own packages are importable
    done = subprocess.run([str(runtime_python), "-I", str(tmp_path / "consumer.py"), str(tmp_path)],
                          capture_output=True, text=True, timeout=120)
    assert done.returncode == 0, done.stderr + done.stdout
    np.testing.assert_allclose(np.load(tmp_path / "logits.npy"), network(torch.from_numpy(images)).detach().numpy(),
                               atol=1e-5)
    out = json.loads((tmp_path / "tabular_out.json").read_text())
    assert out["classes"] == network.class_names
    assert out["labels"] == list(model.predict(rows))
    np.testing.assert_allclose(out["probabilities"], model.predict_proba(rows), atol=1e-9)
    assert [c["name"] for c in columns_of(tmp_path / "tabular.onnx")] == list(X.columns)

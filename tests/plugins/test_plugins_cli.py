"""A plugin file registers a model and a method with the built-ins' decorators; a recipe then names them."""

import json
import subprocess
import sys
import textwrap

import pytest

PLUGIN = textwrap.dedent('''
    import torch
    from torch import nn

    import kdistill
    from kdistill.strategies.hinton import HintonStrategy


    class Bottleneck(nn.Module):
        def __init__(self, features, width, num_classes):
            super().__init__()
            self.body = nn.Sequential(nn.Flatten(), nn.Linear(features, width), nn.Tanh(), nn.Linear(width, num_classes))

        def forward(self, inputs):
            return self.body(inputs)


    @kdistill.register_model("plugin-bottleneck")
    def plugin_bottleneck(input_shape, num_classes, width: kdistill.PositiveInt = 12):
        """A one-hidden-layer tanh network from a plugin file."""
        import math
        return Bottleneck(math.prod(input_shape), width, num_classes)


    @kdistill.register_method("plugin-soft", search_space={"temperature": ("log", 1.0, 10.0)})
    def plugin_soft(teacher=None, temperature: kdistill.Temperature = 3.0, soft_weight: kdistill.Weight = 1.0):
        """Soft targets only (a plugin's method): KL at T, no label term."""
        return HintonStrategy(teacher, temperature, 0.0, soft_weight, "kl")
''')

FAST = [
    "data.dataset=digits", "data.val_size=200", "teacher.train.epochs=2",
    "teacher.model_args.hidden=[32]", "teacher.model_args.max_norm=null", "teacher.jitter=0",
    "report.latency_repeats=1", "report.latency_batch_sizes=[1]", "report.plots=false",
    "student.model=plugin-bottleneck", "student.model_args={width: 16}", "distill.method=plugin-soft",
    "distill.method_args={temperature: 2}", "teacher.train.batch_size=32", "student.train.batch_size=32",
    "student.train.epochs=3", "teacher.model_args.dropout=0.1", "teacher.model_args.input_dropout=0.0",
]


def kdistill(*args, cwd):
    return subprocess.run([sys.executable, "-m", "kdistill", *args], capture_output=True, text=True, cwd=cwd,
                          timeout=300)


@pytest.mark.slow
def test_a_plugin_model_and_method_run_from_a_recipe(tmp_path):
    plugin = tmp_path / "my_components.py"
    plugin.write_text(PLUGIN)
    listing = kdistill("methods", "plugin-soft", "--plugin", str(plugin), cwd=tmp_path)
    assert listing.returncode == 0, listing.stderr
    assert "soft_weight: float >= 0 = 1.0" in listing.stdout
    run = kdistill("run", "quick", *FAST, "--run-dir", "run", "--plugin", str(plugin), cwd=tmp_path)
    assert run.returncode == 0, run.stderr[-2000:]
    report = json.loads((tmp_path / "run" / "report.json").read_text())
    assert report["config"]["student"]["model"] == "plugin-bottleneck"
    assert report["models"]["distilled"]["params"] == 64 * 16 + 16 + 16 * 10 + 10
    assert report["models"]["distilled"]["accuracy"] > 0.5


def test_without_the_plugin_the_error_names_the_fix(tmp_path):
    run = kdistill("run", "quick", *FAST, "--run-dir", "run", cwd=tmp_path)
    assert run.returncode == 2
    assert "unknown distillation method 'plugin-soft'" in run.stderr and "--plugin FILE.py" in run.stderr
    assert not (tmp_path / "run").exists()


def test_a_broken_plugin_is_one_line(tmp_path):
    plugin = tmp_path / "broken.py"
    plugin.write_text("import not_a_module_anywhere\n")
    run = kdistill("models", "--plugin", str(plugin), cwd=tmp_path)
    assert run.returncode == 2
    lines = run.stderr.strip().splitlines()
    assert len(lines) == 1 and "plugin" in lines[0] and "not_a_module_anywhere" in lines[0]


def test_a_plugin_may_not_replace_a_builtin(tmp_path):
    plugin = tmp_path / "clash.py"
    plugin.write_text("import kdistill\n\n@kdistill.register_model('mlp')\ndef mine(input_shape, num_classes):\n"
                      "    pass\n")
    run = kdistill("models", "--plugin", str(plugin), cwd=tmp_path)
    assert run.returncode == 2 and "registered twice" in run.stderr

"""The kdistill command line: listings, one-line errors with exit status 2, and a fast end-to-end run on digits."""

import json
import logging

import pytest
import torch

from kdistill.cli import main
from kdistill.config import builtin_recipes
from kdistill.errors import ShapeError
from kdistill.experiment.models import check_class_counts
from kdistill.models import MODELS, build_model
from kdistill.strategies import STRATEGIES
from kdistill.training import save_weights

FAST_DIGITS = [
    "data.dataset=digits", "data.val_size=200", "teacher.train.epochs=2", "student.train.epochs=2",
    "teacher.model_args.hidden=[32]", "student.model_args.hidden=[16]", "teacher.model_args.max_norm=null",
    "report.latency_repeats=2", "report.latency_batch_sizes=[1,8]",
    # smaller batches and milder regularisation, so two epochs on 8x8 digits really learn something
    "teacher.train.batch_size=32", "student.train.batch_size=32", "teacher.jitter=0",
    "teacher.model_args.input_dropout=0.0", "teacher.model_args.dropout=0.1",
]


@pytest.fixture(autouse=True)
def quiet_logging():
    """main() calls logging.basicConfig; keep the root logger as it was for other tests."""
    root = logging.getLogger()
    handlers, level = list(root.handlers), root.level
    yield
    root.handlers[:] = handlers
    root.setLevel(level)


def error_line(capsys):
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1, err
    assert err[0].startswith("kdistill: error: ")
    return err[0]


@pytest.mark.parametrize("command, names", [
    ("recipes", sorted(builtin_recipes())),
    ("methods", STRATEGIES.names()),
    ("models", MODELS.names()),
])
def test_listings_print_every_registered_name(capsys, command, names):
    assert main([command]) == 0
    lines = capsys.readouterr().out.splitlines()
    assert sorted(line.split()[0] for line in lines if line.strip()) == sorted(names)


def test_recipes_marks_the_default(capsys):
    main(["recipes"])
    assert any(line.startswith("quick") and "(default)" in line for line in capsys.readouterr().out.splitlines())


def test_no_command_prints_help(capsys):
    assert main([]) == 0
    assert "usage" in capsys.readouterr().out


def test_run_help_exits_zero(capsys):
    with pytest.raises(SystemExit) as exit_info:
        main(["run", "--help"])
    assert exit_info.value.code == 0
    out = capsys.readouterr().out
    assert "--resume" in out and "examples" in out


def test_unknown_recipe_is_one_line_naming_the_recipes(capsys, tmp_path):
    assert main(["run", "nope", "--output-dir", str(tmp_path)]) == 2
    line = error_line(capsys)
    assert "nope" in line and all(name in line for name in builtin_recipes())
    assert not any(tmp_path.iterdir())


def test_bad_override_exits_2(capsys, tmp_path):
    assert main(["run", "quick", "teacher.train.epochs", "--output-dir", str(tmp_path)]) == 2
    assert "bad override" in error_line(capsys)


def test_unknown_key_exits_2_naming_it(capsys, tmp_path):
    assert main(["run", "quick", "teacher.train.epohcs=3", "--output-dir", str(tmp_path)]) == 2
    assert "teacher.train.epohcs" in error_line(capsys)


def test_wrong_type_exits_2_naming_the_key(capsys, tmp_path):
    assert main(["run", "quick", "seed=abc", "--output-dir", str(tmp_path)]) == 2
    assert "'seed'" in error_line(capsys)


def test_resume_with_overrides_is_refused(capsys, tmp_path):
    assert main(["run", "--resume", str(tmp_path), "seed=1"]) == 2
    assert "--resume" in error_line(capsys)


def test_resume_of_a_non_run_directory_is_refused(capsys, tmp_path):
    assert main(["run", "--resume", str(tmp_path)]) == 2
    assert "config.yaml" in error_line(capsys)


def test_report_of_a_missing_run_exits_2(capsys, tmp_path):
    assert main(["report", str(tmp_path)]) == 2
    assert "report.json" in error_line(capsys)


@pytest.fixture(scope="module")
def digits_run(tmp_path_factory):
    """One fast end-to-end `kdistill run quick` on the bundled digits data, shared by the tests below."""
    output = tmp_path_factory.mktemp("runs")
    code = main(["run", "quick", *FAST_DIGITS, "--output-dir", str(output)])
    run_dirs = list(output.iterdir())
    return code, run_dirs


def test_end_to_end_run_writes_report_plots_and_config(digits_run):
    code, run_dirs = digits_run
    assert code == 0 and len(run_dirs) == 1
    run_dir = run_dirs[0]
    assert run_dir.name.startswith("quick-")
    report = json.loads((run_dir / "report.json").read_text())
    assert set(report["models"]) == {"teacher", "baseline", "distilled"}
    for name, row in report["models"].items():
        assert 0.4 < row["accuracy"] <= 1.0, name  # 2 epochs on digits: far above chance (0.1)
    assert (run_dir / "report.md").read_text().strip()
    assert (run_dir / "curves.png").stat().st_size > 0
    config = (run_dir / "config.yaml").read_text()
    assert "digits" in config and "latency_repeats: 2" in config
    for stage in ("teacher", "baseline", "distilled"):
        assert (run_dir / stage / "done.json").exists()
        assert (run_dir / stage / "student.safetensors").exists()
        records = (run_dir / stage / "metrics.jsonl").read_text().splitlines()
        assert len(records) == 2


def test_report_command_rerenders_the_run(digits_run, capsys):
    _, (run_dir,) = digits_run
    (run_dir / "report.md").unlink()
    assert main(["report", str(run_dir)]) == 0
    assert (run_dir / "report.md").exists()
    assert "distilled" in capsys.readouterr().out


def test_resume_of_a_finished_run_skips_every_stage(digits_run, capsys, monkeypatch):
    import kdistill.training.loop as loop_module

    _, (run_dir,) = digits_run
    before = {stage: (run_dir / stage / "done.json").read_text() for stage in ("teacher", "baseline", "distilled")}

    def no_training(*args, **kwargs):
        raise AssertionError("a finished stage was trained again")

    monkeypatch.setattr(loop_module, "start_epoch", no_training)
    assert main(["run", "--resume", str(run_dir)]) == 0
    after = {stage: (run_dir / stage / "done.json").read_text() for stage in before}
    assert after == before
    assert (run_dir / "report.json").exists()


def test_teacher_weights_with_a_different_class_count_exit_2(capsys, tmp_path):
    torch.manual_seed(0)
    other = build_model("mlp", (1, 8, 8), 7, hidden=[32])
    weights = tmp_path / "teacher7.safetensors"
    save_weights(weights, other.state_dict())
    code = main(["run", "quick", *FAST_DIGITS, f"teacher.weights={weights}", "--output-dir", str(tmp_path / "runs")])
    assert code == 2
    line = error_line(capsys)
    assert "teacher7.safetensors" in line and "do not fit" in line


def test_check_class_counts_names_both_numbers():
    teacher = build_model("mlp", (1, 8, 8), 7, hidden=[8])
    student = build_model("mlp", (1, 8, 8), 10, hidden=[8])
    with pytest.raises(ShapeError) as error:
        check_class_counts(teacher, student, (1, 8, 8))
    assert "7" in str(error.value) and "10" in str(error.value)
    assert check_class_counts(student, build_model("cnn", (1, 8, 8), 10), (1, 8, 8)) == 10


def test_profile_a_model_by_name_with_arguments(capsys):
    assert main(["profile", "--model", "mlp", "hidden=[30]", "--input-shape", "1,8,8", "--repeats", "1"]) == 0
    row = capsys.readouterr().out.splitlines()[1].split()
    assert row[0] == "mlp" and int(row[1].replace(",", "")) == 64 * 30 + 30 + 30 * 10 + 10


def test_profile_a_run_directory_loads_every_stage(digits_run, capsys):
    _, run_dirs = digits_run
    assert main(["profile", str(run_dirs[0]), "--repeats", "1"]) == 0
    lines = capsys.readouterr().out.splitlines()
    assert [line.split()[0] for line in lines[1:-1]] == ["teacher", "baseline", "distilled"]
    assert lines[-1].startswith("latency: torch.utils.benchmark")

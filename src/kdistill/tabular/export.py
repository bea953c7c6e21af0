"""Save and load fitted students with skops (no plain pickle), and render tree students as text or a picture.

``save_student`` stores the estimator without its teacher. ``load_student`` trusts only types from kdistill,
scikit-learn, numpy and builtins: skops refuses anything else in the file, so a swapped file cannot run code.
ONNX export is not implemented (skl2onnx is not a dependency).
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from kdistill.errors import CheckpointError, ConfigError
from kdistill.tabular.encoding import encoded_feature_names
from kdistill.tabular.students import TreeStudent

TRUSTED_PREFIXES = ("kdistill.", "sklearn.", "numpy.", "builtins.", "collections.")


def save_student(model: Any, path: str | Path) -> Path:
    import skops.io

    path = Path(path)
    if path.suffix != ".skops":
        raise ConfigError(f"student files are saved as skops: give a path ending in .skops (got {path.name})")
    path.parent.mkdir(parents=True, exist_ok=True)
    skops.io.dump(model.without_teacher() if hasattr(model, "without_teacher") else model, path)
    return path


def load_student(path: str | Path) -> Any:
    import skops.io

    path = Path(path)
    if not path.exists():
        raise CheckpointError(f"{path} does not exist; train a student with `kdistill tabular fit` first")
    untrusted = skops.io.get_untrusted_types(file=path)
    refused = [name for name in untrusted if not name.startswith(TRUSTED_PREFIXES)]
    if refused:
        raise CheckpointError(f"{path} contains types outside kdistill/scikit-learn/numpy: {', '.join(refused)}; refusing to load")
    return skops.io.load(path, trusted=untrusted)


def tree_text(model: Any, decimals: int = 3) -> str:
    """The student tree as indented if/else text (scikit-learn ``export_text``), then the legend of category codes."""
    from sklearn.tree import export_text

    student = _tree_student(model)
    text = export_text(student.model_, feature_names=encoded_feature_names(model.encoder_), decimals=decimals,
                       show_weights=False)
    legend = model.encoder_.legend() if hasattr(model.encoder_, "legend") else ""
    return f"{text}\ncategory codes (missing or unseen = NaN):\n{legend}\n" if legend else text


def tree_picture(model: Any, path: str | Path, max_depth: int | None = 4) -> Path:
    """Draw the student tree (top ``max_depth`` levels) to a PNG/SVG/PDF with matplotlib."""
    try:
        import matplotlib

        matplotlib.use("Agg")
        import matplotlib.pyplot as plt
    except ImportError as error:
        raise ConfigError("drawing a tree needs matplotlib: pip install 'kdistill[plots]'") from error
    from sklearn.tree import plot_tree

    student = _tree_student(model)
    figure, axes = plt.subplots(figsize=(24, 12))
    plot_tree(student.model_, feature_names=encoded_feature_names(model.encoder_), max_depth=max_depth, filled=True,
              impurity=False, precision=2, fontsize=7, ax=axes)
    figure.savefig(path, bbox_inches="tight", dpi=120)
    plt.close(figure)
    return Path(path)


def _tree_student(model: Any) -> TreeStudent:
    student = getattr(model, "student_", None)
    if not isinstance(student, TreeStudent):
        raise ConfigError("only tree students can be printed or drawn; fit with student='tree'")
    return student

"""Save and load fitted students with skops (no plain pickle), and render tree students as text or a picture.

``save_student`` stores the estimator without its teacher, and refuses to write a file ``load_student`` would refuse.
``load_student`` / ``load_teacher`` let skops build only its own trusted defaults plus the exact type names in
:mod:`kdistill.tabular.trusted_types`; a file naming anything else (``builtins.eval``, ``os.system``, ...) is refused
before any object is built, so a swapped or crafted file cannot run code. ONNX export: :mod:`kdistill.deploy.tabular`.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from kdistill.atomic import atomic_path
from kdistill.errors import CheckpointError, ConfigError
from kdistill.tabular.encoding import encoded_feature_names
from kdistill.tabular.students import TreeStudent
from kdistill.tabular.trusted_types import STUDENT_TYPES, TEACHER_TYPES, refused_types


def save_student(model: Any, path: str | Path) -> Path:
    import skops.io

    path = Path(path)
    if path.suffix != ".skops":
        raise ConfigError(f"student files are saved as skops: give a path ending in .skops (got {path.name})")
    data = skops.io.dumps(model.without_teacher() if hasattr(model, "without_teacher") else model)
    refused = refused_types(skops.io.get_untrusted_types(data=data), STUDENT_TYPES)
    if refused:  # writing it would "succeed" and leave a file that load_student refuses
        raise CheckpointError(f"cannot save {path.name}: the model holds types load_student does not trust "
                              f"({', '.join(refused)}); convert table columns holding such values to numbers or "
                              "text, or report it as a kdistill bug")
    with atomic_path(path) as temporary:
        temporary.write_bytes(data)
    return path


def load_student(path: str | Path) -> Any:
    """A student saved by :func:`save_student` (kdistill students only)."""
    return _load_trusted(Path(path), STUDENT_TYPES, "train a student with `kdistill tabular fit` first")


def load_teacher(path: str | Path) -> Any:
    """A fitted teacher saved with ``skops.io.dump``: a kdistill student or a teacher kdistill trains (TEACHERS)."""
    return _load_trusted(Path(path), TEACHER_TYPES, "save a fitted teacher with skops.io.dump(teacher, FILE.skops)")


def _load_trusted(path: Path, allowed: frozenset[str], how_to_make_one: str) -> Any:
    import skops.io

    if not path.is_file():
        raise CheckpointError(f"{path} does not exist; {how_to_make_one}")
    try:
        untrusted = skops.io.get_untrusted_types(file=path)  # reads the schema only: builds nothing
    except Exception as error:  # zipfile, json and skops raise several types for a file that is not skops
        raise CheckpointError(f"cannot read {path} as a skops file ({_first_line(error)}); "
                              f"{how_to_make_one}") from error
    refused = refused_types(untrusted, allowed)
    if refused:
        raise CheckpointError(f"{path} contains types kdistill does not trust ({', '.join(refused)}); refusing to "
                              "load it: only kdistill students and the teachers kdistill trains are accepted")
    try:
        return skops.io.load(path, trusted=untrusted)
    except Exception as error:  # a truncated array or a schema from another version fails deep inside skops
        raise CheckpointError(f"cannot load {path} ({_first_line(error)}); the file is corrupt or was saved by "
                              f"another version; {how_to_make_one}") from error


def _first_line(error: Exception) -> str:
    text = str(error).strip()
    return f"{type(error).__name__}: {text.splitlines()[0]}" if text else type(error).__name__


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

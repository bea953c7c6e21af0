"""Layer maps between two encoders, by layer number: which teacher layer teaches each student layer.

Numbers are 1-based transformer layers (TinyBERT's numbering, in which 0 is the embedding layer; embeddings are always
matched with embeddings by their own loss). A map is ``uniform`` (student layer m <- teacher layer round(m·N/M), the
last onto the last: TinyBERT's g(m) = m·N/M; :func:`~kdistill.features.matching.uniform_indices`, shared with the
vision feature methods), ``last`` (the last layer only) or explicit ``[[student_layer, teacher_layer], ...]`` pairs.

    layer_map("uniform", 4, 6)   # [(1, 2), (2, 3), (3, 5), (4, 6)]
    layer_map("uniform", 2, 6)   # [(1, 3), (2, 6)]
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Annotated, Any

from kdistill.arguments import Check
from kdistill.errors import ConfigError
from kdistill.features.matching import uniform_indices

LAYER_MAPS = ("uniform", "last")


def layer_map_problem(value: Any) -> str | None:
    """What is wrong with a recipe's layer map, or None (the numbers are checked against the models later)."""
    if isinstance(value, str):
        return None if value in LAYER_MAPS else "must be uniform, last or a list of [student_layer, teacher_layer]"
    pairs_ok = isinstance(value, (list, tuple)) and value and all(
        isinstance(pair, (list, tuple)) and len(pair) == 2
        and all(isinstance(n, int) and not isinstance(n, bool) and n >= 1 for n in pair) for pair in value)
    return None if pairs_ok else "must be uniform, last or a non-empty list of [student_layer, teacher_layer] " \
                                 "numbers (1-based)"


LayerMapSpec = Annotated[Any, Check(layer_map_problem)]  # a builder argument type


def layer_map(spec: str | Sequence[Sequence[int]], student_layers: int, teacher_layers: int) -> list[tuple[int, int]]:
    """Checked (student_layer, teacher_layer) pairs, 1-based (see the module docstring)."""
    problem = layer_map_problem(spec)
    if problem:
        raise ConfigError(f"layers {problem}; got {spec!r}")
    if spec == "uniform":
        return [(m + 1, n + 1) for m, n in enumerate(uniform_indices(student_layers, teacher_layers))]
    if spec == "last":
        return [(student_layers, teacher_layers)]
    pairs = [(int(s), int(t)) for s, t in spec]
    for student, teacher in pairs:
        if student > student_layers or teacher > teacher_layers:
            raise ConfigError(f"layer pair [{student}, {teacher}] is out of range: the student has {student_layers} "
                              f"layers and the teacher {teacher_layers} (numbers are 1-based)")
    return pairs

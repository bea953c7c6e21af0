"""A smaller BERT-family student built from its teacher: fewer layers and/or a narrower width, optionally started from
a subset of the teacher's layers (DistilBERT initialised its 6 layers from every other one of BERT-base's 12).

    student = student_from_teacher(teacher, num_layers=4)                # layers 1, 2, 4, 5 of 6 (0-based), copied
    student = student_from_teacher(teacher, num_layers=3, keep=[0, 2, 4])  # DistilBERT's every other layer
    student = student_from_teacher(teacher, num_layers=4, hidden=192)     # narrower: random init, needs projections

Copying needs equal widths: the embeddings, the kept layers, the pooler and the task head are copied; a narrower
student starts from scratch (its config otherwise the teacher's: vocabulary, positions, head count).
"""

from __future__ import annotations

import copy
from collections.abc import Sequence
from typing import Any

from torch import nn

from kdistill.errors import ConfigError
from kdistill.features.matching import uniform_indices
from kdistill.features.transformer_layout import encoder_layout


def kept_layers(num_layers: int, teacher_layers: int, keep: Sequence[int] | None = None) -> list[int]:
    """Which teacher layers (0-based) initialise the student's: ``keep``, else spread evenly with the last kept."""
    if keep is None:
        return uniform_indices(num_layers, teacher_layers)
    keep = [int(i) for i in keep]
    if len(keep) != num_layers or any(not 0 <= i < teacher_layers for i in keep):
        raise ConfigError(f"keep must list {num_layers} teacher layers in 0..{teacher_layers - 1}; got {keep}")
    return keep


def shrink_config(config: Any, num_layers: int | None = None, hidden: int | None = None, heads: int | None = None,
                  intermediate: int | None = None) -> Any:
    """A copy of a transformers config with fewer layers / another width (intermediate scales with the width)."""
    config = copy.deepcopy(config)
    if num_layers is not None:
        config.num_hidden_layers = num_layers
    if hidden is not None and hidden != config.hidden_size:
        ratio = config.intermediate_size / config.hidden_size
        config.hidden_size = hidden
        config.intermediate_size = intermediate or int(round(ratio * hidden))
    elif intermediate is not None:
        config.intermediate_size = intermediate
    if heads is not None:
        config.num_attention_heads = heads
    if config.hidden_size % config.num_attention_heads:
        raise ConfigError(f"hidden size {config.hidden_size} is not a multiple of {config.num_attention_heads} "
                          "attention heads; pick a width divisible by the head count (or set heads)")
    return config


def copy_from_teacher(student: nn.Module, teacher: nn.Module, keep: Sequence[int]) -> None:
    """Copy the teacher's embeddings, layers ``keep`` (in order), and every other shared module (pooler, task head)."""
    student_layout, teacher_layout = encoder_layout(student), encoder_layout(teacher)
    if student_layout.width != teacher_layout.width:
        raise ConfigError(f"cannot copy teacher layers into a student of width {student_layout.width} (teacher "
                          f"{teacher_layout.width}); use init: scratch for a narrower student")
    state = teacher.state_dict()
    layer_of = {student_layout.layers[i]: teacher_layout.layers[j] for i, j in enumerate(keep)}
    own = student.state_dict()
    for key in own:
        layer = next((name for name in layer_of if key.startswith(name + ".")), None)
        source = key if layer is None else layer_of[layer] + key[len(layer):]  # layer i <- teacher layer keep[i]
        if source in state and state[source].shape == own[key].shape:
            own[key] = state[source].clone()
    student.load_state_dict(own)


def student_from_teacher(teacher: nn.Module, num_layers: int, hidden: int | None = None, heads: int | None = None,
                         intermediate: int | None = None, keep: Sequence[int] | None = None,
                         init: str = "teacher") -> nn.Module:
    """A student of the teacher's class and config with ``num_layers`` layers (see the module docstring).

    ``init``: ``teacher`` (copy the kept layers; needs the teacher's width) or ``scratch`` (random).
    """
    if init not in ("teacher", "scratch"):
        raise ConfigError(f"init must be teacher or scratch; got {init!r}")
    teacher_layers = len(encoder_layout(teacher).layers)
    if num_layers < 1:
        raise ConfigError(f"num_layers must be >= 1; got {num_layers}")
    config = shrink_config(teacher.config, num_layers, hidden, heads, intermediate)
    student = type(teacher)(config)
    if init == "teacher":
        copy_from_teacher(student, teacher, kept_layers(num_layers, teacher_layers, keep))
    return student


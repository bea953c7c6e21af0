"""What each stage of a run is trained with: the recipe keys whose change would change that stage's weights.

A stage folder is reused (``--run-dir``, ``--resume``) only while its keys are unchanged, so a run folder never mixes
stages trained under different settings. Keys are dotted recipe paths, so a refusal can name them::

    (every stage)       seed, threads, data (not data.eval_batch_size)
    teacher, teacher-K  teacher.{model, model_args, jitter, augment, warp, train}, teacher.member (K; 1 = "teacher")
    baseline            student.{model, model_args, jitter, augment, warp, train}
    distilled           the baseline's keys, distill.method and method_args, the cache settings that change what the
                        student sees (if the cache is on), and the teacher: its keys and teacher.members, or the
                        sha256 of teacher.weights (none for a method without a pre-trained teacher)
    finetuned           the distilled stage's keys and finetune.*

Free to differ on reuse: name, description, report.*, data.eval_batch_size (evaluation only), and the cache's storage
settings (dir, shard_size, build_batch_size, on_mismatch): the cache checks its own fingerprint. So `kdistill cache
build` and then `kdistill run ... distill.cache.enabled=true` share the teacher stage, and a finished run can be
re-reported with other report settings.
"""

from __future__ import annotations

import dataclasses
import hashlib
import json
from pathlib import Path
from typing import Any

from kdistill.config import ModelSection, Recipe, to_dict
from kdistill.errors import CheckpointError
from kdistill.strategies import uses_teacher

CACHE_KEYS_THAT_CHANGE_TRAINING = ("enabled", "views", "format", "topk", "temperature", "features")


def stage_keys(recipe: Recipe) -> dict[str, dict[str, Any]]:
    """{stage folder: {dotted key: canonical value}} for every stage ``recipe`` trains, in training order."""
    from kdistill.experiment.run import member_folder  # run.py imports this module's users: import at call time

    common = {"seed": recipe.seed, "threads": recipe.threads,  # results depend on the thread count too
              **flatten({k: v for k, v in to_dict(recipe.data).items() if k != "eval_batch_size"}, "data")}
    stages: dict[str, dict[str, Any]] = {}
    with_teacher = uses_teacher(recipe.distill.method)
    if with_teacher and not recipe.teacher.weights:
        for index in range(recipe.teacher.members):
            stages[member_folder(index)] = canonical({**common, **model_keys(recipe.teacher, "teacher"),
                                                      "teacher.member": index + 1})
    student = {**common, **model_keys(recipe.student, "student")}
    stages["baseline"] = canonical(student)
    distilled = {**student, "distill.method": recipe.distill.method,
                 **flatten(recipe.distill.method_args, "distill.method_args"), **cache_keys(recipe)}
    if with_teacher:
        distilled.update(teacher_identity(recipe))
    stages["distilled"] = canonical(distilled)
    if recipe.finetune.epochs > 0:
        stages["finetuned"] = canonical({**distilled, **flatten(to_dict(recipe.finetune), "finetune")})
    return stages


def model_keys(section: ModelSection, prefix: str) -> dict[str, Any]:
    """A trained network's keys: model, model_args, jitter, augment and warp (only when set: runs from before these
    options keep their fingerprints), train (not members/weights: see stage_keys)."""
    warp = flatten(to_dict(section.warp), f"{prefix}.warp") if section.warp.active else {}
    return {f"{prefix}.model": section.model, **flatten(section.model_args, f"{prefix}.model_args"),
            f"{prefix}.jitter": section.jitter, **flatten(section.augment, f"{prefix}.augment"), **warp,
            **flatten(to_dict(section.train), f"{prefix}.train")}


def teacher_identity(recipe: Recipe) -> dict[str, Any]:
    """The distilled stage's teacher: a loaded file by content, a trained teacher (or ensemble) by its keys."""
    teacher = recipe.teacher
    if not teacher.weights:
        return {**model_keys(teacher, "teacher"), "teacher.members": teacher.members}
    path = Path(teacher.weights)
    if not path.is_file():
        raise CheckpointError(f"teacher weights {path} do not exist; set teacher.weights to a .safetensors file "
                              "written by a previous run (e.g. RUN_DIR/teacher/student.safetensors)")
    digest = hashlib.sha256(path.read_bytes()).hexdigest()
    return {"teacher.model": teacher.model, **flatten(teacher.model_args, "teacher.model_args"),
            "teacher.weights": f"sha256:{digest}"}


def cache_keys(recipe: Recipe) -> dict[str, Any]:
    section = recipe.distill.cache
    if not section.enabled:
        return {"distill.cache.enabled": False}
    keys = {f"distill.cache.{name}": getattr(section, name) for name in CACHE_KEYS_THAT_CHANGE_TRAINING}
    if section.warp.active:  # only then: stages trained without a warp keep their keys
        keys.update(flatten(section.warp, "distill.cache.warp"))
    if section.topk_values != "fp16":  # int8 targets differ from fp16 ones; fp16 stages keep their older keys
        keys["distill.cache.topk_values"] = section.topk_values
    return keys


def flatten(value: Any, prefix: str) -> dict[str, Any]:
    """{"a": {"b": 1}} under "x" -> {"x.a.b": 1}; an empty mapping contributes nothing (same as unset)."""
    if dataclasses.is_dataclass(value):
        value = to_dict(value)
    if not isinstance(value, dict):
        return {prefix: value}
    flat: dict[str, Any] = {}
    for key, item in value.items():
        flat.update(flatten(item, f"{prefix}.{key}" if prefix else str(key)))
    return flat


def canonical(value: Any) -> Any:
    """JSON-shaped, with 4.0 and 4 alike (an override `temperature=4` must not count as a change from 4.0)."""
    if isinstance(value, dict):
        return {str(key): canonical(item) for key, item in sorted(value.items())}
    if isinstance(value, (list, tuple)):
        return [canonical(item) for item in value]
    if isinstance(value, float) and value.is_integer():
        return int(value)
    return value


def digest(value: Any) -> str:
    """sha256 of a canonical JSON value (a config or a stage's keys)."""
    return hashlib.sha256(json.dumps(canonical(value), sort_keys=True).encode()).hexdigest()


def config_keys(recipe: Recipe) -> dict[str, Any]:
    """The whole resolved recipe as {dotted key: canonical value}."""
    return canonical(flatten(to_dict(recipe), ""))


def keys_added_since(recorded: dict[str, Any], current: dict[str, Any]) -> set[str]:
    """Keys of ``current`` a recorded config lacks because the schema gained them later, at their default value: a
    run written before a new option must still resume (its yaml, read today, resolves the option to the default)."""
    defaults = config_keys(Recipe())
    return {key for key in current.keys() - recorded.keys() if key in defaults and current[key] == defaults[key]}


def describe_changes(old: dict[str, Any], new: dict[str, Any], limit: int = 4) -> str:
    """'seed: 0 -> 1, teacher.train.epochs: 3 -> 5 (+2 more)': the first ``limit`` keys that differ."""
    changed = [key for key in sorted(set(old) | set(new)) if old.get(key, UNSET) != new.get(key, UNSET)]
    parts = [f"{key}: {show(old.get(key, UNSET))} -> {show(new.get(key, UNSET))}" for key in changed[:limit]]
    more = f" (+{len(changed) - limit} more)" if len(changed) > limit else ""
    return ", ".join(parts) + more if parts else "no recipe key (the stage records differ)"


class _Unset:
    def __repr__(self) -> str:
        return "(unset)"


UNSET = _Unset()


def show(value: Any) -> str:
    text = repr(value) if value is UNSET else json.dumps(value)
    return text if len(text) <= 40 else text[:37] + "..."

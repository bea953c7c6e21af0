"""From a recipe's ``distill.cache`` section to a built cache, a cached teacher and the loader that matches it."""

from __future__ import annotations

from pathlib import Path

import torch
from torch import nn

from kdistill.cache.build import BuildStats, CacheSettings, build_cache, manifest_warp
from kdistill.cache.store import TeacherCache
from kdistill.cache.teacher import CachedTeacher
from kdistill.cache.views import CachedViewLoader
from kdistill.config.schema import Recipe
from kdistill.distributed import DistributedContext
from kdistill.strategies import method_temperature

CACHE_FOLDER = "teacher-cache"


def cache_settings(recipe: Recipe) -> CacheSettings:
    section = recipe.distill.cache
    temperature = section.temperature
    if temperature is None:
        temperature = method_temperature(recipe.distill.method, recipe.distill.method_args)
    return CacheSettings(format=section.format, topk=section.topk, temperature=temperature, views=section.views,
                         features=tuple(section.features), shard_size=section.shard_size)


def cache_folder(recipe: Recipe, run_dir: Path) -> Path:
    return Path(recipe.distill.cache.dir) if recipe.distill.cache.dir else run_dir / CACHE_FOLDER


def build_recipe_cache(
    recipe: Recipe, teacher: nn.Module, train_images: torch.Tensor, train_labels: torch.Tensor, run_dir: Path,
    ctx: DistributedContext,
) -> tuple[TeacherCache, BuildStats]:
    """Build (or reuse, or rebuild if stale) the recipe's cache - in parallel shards across ranks - and open it."""
    folder = cache_folder(recipe, run_dir)
    section = recipe.distill.cache
    stats = build_cache(folder, teacher, train_images, train_labels, cache_settings(recipe),
                        dataset=recipe.data.dataset, max_shift=recipe.student.jitter, seed=recipe.seed,
                        batch_size=section.build_batch_size, on_mismatch=section.on_mismatch, rank=ctx.rank,
                        world_size=ctx.world_size, device=ctx.device, warp=section.warp)
    return TeacherCache(folder, verify=True), stats


def cached_training(
    cache: TeacherCache, train_images: torch.Tensor, train_labels: torch.Tensor, batch_size: int, recipe: Recipe,
    ctx: DistributedContext,
) -> tuple[CachedTeacher, CachedViewLoader]:
    """The teacher and the loader a cached distillation stage trains with (the loader shows the stored views)."""
    # the distillation T: the loader decodes the epoch's soft targets at it once, not the loss every batch
    loader = CachedViewLoader(train_images, train_labels, batch_size, seed=cache.manifest["seed"], rank=ctx.rank,
                              world_size=ctx.world_size, cache=cache, warp=manifest_warp(cache.manifest),
                              temperature=cache_settings(recipe).temperature)
    return CachedTeacher(cache), loader

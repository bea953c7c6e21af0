"""An augmentation-consistent teacher cache: teacher outputs computed once per (sample, view), served from disk.

    from kdistill.cache import CacheSettings, build_cache, TeacherCache, CachedTeacher, CachedViewLoader
    build_cache("cache", teacher_net, train_x, train_y, CacheSettings(format="topk", topk=5, views=4), max_shift=2)
    teacher = CachedTeacher(TeacherCache("cache"))
    loader = CachedViewLoader(train_x, train_y, 128, views=teacher.cache.views, max_shift=2, seed=0)
"""

from kdistill.cache.build import BuildStats, CacheSettings, build_cache
from kdistill.cache.codec import FORMATS, decode, encode
from kdistill.cache.fingerprint import cache_fingerprint, module_sha256
from kdistill.cache.store import TeacherCache
from kdistill.cache.teacher import CachedTeacher
from kdistill.cache.views import CachedViewLoader, epoch_view, view_shifts

__all__ = [
    "FORMATS",
    "BuildStats",
    "CacheSettings",
    "CachedTeacher",
    "CachedViewLoader",
    "TeacherCache",
    "build_cache",
    "cache_fingerprint",
    "decode",
    "encode",
    "epoch_view",
    "module_sha256",
    "view_shifts",
]

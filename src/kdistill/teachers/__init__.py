"""Teachers: frozen networks, ensembles, class subsets and precomputed outputs behind one interface."""

from kdistill.teachers.base import Teacher, freeze
from kdistill.teachers.class_subset import ClassSubsetTeacher
from kdistill.teachers.ensemble import EnsembleTeacher
from kdistill.teachers.frozen import FrozenTeacher, as_teacher
from kdistill.teachers.precomputed import PrecomputedTeacher

__all__ = [
    "ClassSubsetTeacher",
    "EnsembleTeacher",
    "FrozenTeacher",
    "PrecomputedTeacher",
    "Teacher",
    "as_teacher",
    "freeze",
]

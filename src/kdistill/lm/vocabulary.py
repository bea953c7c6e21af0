"""Teacher and student must predict over the same tokens: check that up front, not as a shape error mid-training.

``check_vocabularies`` compares the two tokenizers' token -> id maps (``get_vocab()``, added tokens included), their
special tokens (bos / eos / unk and the additional ones; the pad token is not compared - padded positions are masked
out of every loss) and the models' output sizes. It returns how to line the two models' logits up:

- ``"identical"``: same tokens at the same ids. A model whose embedding is padded beyond its tokenizer (rows no token
  id reaches, e.g. rounded up to a multiple of 64) has those logits sliced off, so both predict over exactly the
  tokenizer's vocabulary.
- ``"shared-prefix"`` (only with ``align="shared-prefix"``): one vocabulary extends the other - ids 0..n-1 hold the
  same tokens, the larger one has extra tokens after them (e.g. added chat tokens). Both logits are sliced to the n
  shared tokens; the losses renormalise over them, so the teacher's probability on its extra tokens is dropped and the
  student's extra tokens get no teacher signal. Feed both models ids from the smaller vocabulary's tokenizer, so every
  input id exists in both embeddings.

Anything else (a token that differs inside the shared range, different special tokens) is a one-line ``ConfigError``
naming both sizes and the first differing tokens.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import torch

from kdistill.errors import ConfigError, ShapeError

ALIGNMENTS = ("shared-prefix",)
SPECIAL_ROLES = ("bos_token", "eos_token", "unk_token", "additional_special_tokens")
SHOWN_DIFFERENCES = 3


@dataclass(frozen=True)
class VocabularyAlignment:
    """How teacher and student logits line up: both are sliced to their first ``shared_size`` entries."""

    shared_size: int
    teacher_size: int  # the teacher model's output size (its embedding rows, padding included)
    student_size: int
    mode: str  # "identical" | "shared-prefix"

    def teacher_logits(self, logits: torch.Tensor) -> torch.Tensor:
        """(..., teacher_size) -> (..., shared_size): a view, no copy."""
        return self._slice(logits, self.teacher_size, "teacher")

    def student_logits(self, logits: torch.Tensor) -> torch.Tensor:
        """(..., student_size) -> (..., shared_size): a view, no copy (gradients flow through it)."""
        return self._slice(logits, self.student_size, "student")

    def _slice(self, logits: torch.Tensor, size: int, role: str) -> torch.Tensor:
        if logits.shape[-1] != size:
            raise ShapeError(f"{role} logits have {logits.shape[-1]} entries but the {role} model checked by "
                             f"check_vocabularies has {size}; pass the {role}'s own logits (or re-run the check "
                             "with the model's embedding size)")
        return logits if size == self.shared_size else logits[..., : self.shared_size]


def tokens_by_id(tokenizer: Any) -> dict[int, str]:
    """{id: token} from a tokenizer's ``get_vocab()`` (Hugging Face or ``tokenizers``), added tokens included."""
    try:
        vocab = tokenizer.get_vocab()
    except AttributeError:
        raise ConfigError(f"{type(tokenizer).__name__} has no get_vocab(); pass a Hugging Face tokenizer") from None
    return {int(index): token for token, index in vocab.items()}


def special_tokens(tokenizer: Any) -> dict[str, Any]:
    """The special tokens that shape sequences (bos / eos / unk / additional), by role; the pad token is left out."""
    mapping = getattr(tokenizer, "special_tokens_map", None) or {}
    return {role: mapping[role] for role in SPECIAL_ROLES if mapping.get(role) is not None}


def vocabulary_size(tokens: dict[int, str]) -> int:
    return max(tokens) + 1 if tokens else 0


def describe_token(tokens: dict[int, str], index: int) -> str:
    return repr(tokens[index]) if index in tokens else "(none)"


def first_differences(teacher: dict[int, str], student: dict[int, str], stop: int) -> list[int]:
    """The first few ids below ``stop`` where the two vocabularies hold different tokens (or only one holds one)."""
    differing = []
    for index in range(stop):
        if teacher.get(index) != student.get(index):
            differing.append(index)
            if len(differing) == SHOWN_DIFFERENCES:
                break
    return differing


def model_size(tokenizer_size: int, model_vocab_size: int | None, role: str) -> int:
    """The model's output size; it may exceed the tokenizer's (padded embedding), never fall short of it."""
    if model_vocab_size is None:
        return tokenizer_size
    if model_vocab_size < tokenizer_size:
        raise ConfigError(f"the {role} model predicts {model_vocab_size} tokens but its tokenizer has "
                          f"{tokenizer_size}; token ids >= {model_vocab_size} have no logit - pair the {role} with "
                          "its own tokenizer")
    return model_vocab_size


def check_vocabularies(teacher_tokenizer: Any, student_tokenizer: Any, *, teacher_vocab_size: int | None = None,
                       student_vocab_size: int | None = None, align: str | None = None) -> VocabularyAlignment:
    """Compare the two tokenizers (and the models' output sizes); return how to slice their logits, or raise.

    ``teacher_vocab_size`` / ``student_vocab_size``: the models' logit sizes (``config.vocab_size``), when they may
    differ from the tokenizers' (padded embeddings). ``align="shared-prefix"`` accepts a vocabulary that extends the
    other one (see the module docstring).
    """
    if align is not None and align not in ALIGNMENTS:
        raise ConfigError(f"unknown vocabulary alignment {align!r}; choose {', '.join(ALIGNMENTS)} or none")
    teacher, student = tokens_by_id(teacher_tokenizer), tokens_by_id(student_tokenizer)
    teacher_tokens, student_tokens = vocabulary_size(teacher), vocabulary_size(student)
    teacher_size = model_size(teacher_tokens, teacher_vocab_size, "teacher")
    student_size = model_size(student_tokens, student_vocab_size, "student")
    teacher_special, student_special = special_tokens(teacher_tokenizer), special_tokens(student_tokenizer)
    if teacher_special != student_special:
        role = next(r for r in SPECIAL_ROLES if teacher_special.get(r) != student_special.get(r))
        raise ConfigError(f"teacher and student tokenizers mark different special tokens ({teacher_tokens} vs "
                          f"{student_tokens} tokens): {role} is {teacher_special.get(role)!r} for the teacher but "
                          f"{student_special.get(role)!r} for the student; distil with a student that uses the "
                          "teacher's tokenizer")
    shared = min(teacher_tokens, student_tokens)
    conflicts = first_differences(teacher, student, shared)
    if not conflicts and teacher_tokens == student_tokens:
        return VocabularyAlignment(shared, teacher_size, student_size, "identical")
    if not conflicts and align == "shared-prefix":
        return VocabularyAlignment(shared, teacher_size, student_size, "shared-prefix")
    shown = conflicts or first_differences(teacher, student, max(teacher_tokens, student_tokens))
    differences = ", ".join(f"id {index}: teacher {describe_token(teacher, index)} vs student "
                            f"{describe_token(student, index)}" for index in shown)
    if conflicts:
        fix = ("they are not prefix-compatible, so no alignment applies: distil with a student that uses the "
               "teacher's tokenizer")
    else:
        larger = "teacher" if teacher_tokens > student_tokens else "student"
        fix = (f"the {larger}'s vocabulary extends the other's: set align: shared-prefix to compare logits over the "
               f"first {shared} tokens")
    raise ConfigError(f"teacher vocabulary ({teacher_tokens} tokens) and student vocabulary ({student_tokens} tokens) "
                      f"differ; first differing tokens: {differences}; {fix}")

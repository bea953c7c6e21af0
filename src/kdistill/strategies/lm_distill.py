"""Token-level distillation of causal language models, with on-policy (GKD) and sequence-level (SeqKD) options.

    loss = kd_weight · D(p_teacher ‖ q_student)  +  ce_weight · CE(next token)        averaged over scored tokens

D is one of ``kdistill.losses.token_divergence``'s kinds: forward KL (Hinton / supervised KD), reverse KL (MiniLLM),
generalised JSD(beta) (GKD), skew KL / skew reverse KL (DistiLLM), total variation. Both terms come from
``kdistill.losses.lm_objective.kd_and_ce``, which shares one softmax of the student between them when the teacher is a
top-k cache and the divergence allows it (``chunk_tokens`` None: that computation's measured default chunk).

Which sequences the loss is computed on (Agarwal et al. 2024, "On-Policy Distillation of Language Models: Learning
from Self-Generated Mistakes"): with probability ``on_policy`` (GKD's lambda) per batch, the student continues the
first ``prompt_length`` tokens of each block by sampling (at ``sample_temperature``) and the teacher scores that
continuation; otherwise the batch is the corpus (``targets: corpus``) or the teacher's own continuation of the prompt
(``targets: teacher``: sequence-level KD, Kim & Rush 2016). On generated sequences only the generated tokens are
scored. Draws come from a generator seeded by (``sample_seed``, step, batch), so a run repeats exactly; the step count
is part of the strategy's state and so of its checkpoints.

Generated sequences need a teacher that can score (and, for ``targets: teacher``, write) new text: a live network. A
teacher cache only knows the stored corpus blocks, so these options refuse it with a one-line error.
"""

from __future__ import annotations

from typing import Annotated

import torch
from torch import nn

from kdistill.arguments import Fraction, NonNegative, OneOf, PositiveInt, Range, Temperature, Weight
from kdistill.batch import Batch, forward_model
from kdistill.errors import ConfigError, ShapeError
from kdistill.lm.blocks import IGNORE_INDEX, next_token_labels
from kdistill.lm.sampling import continue_prefix, step_generator
from kdistill.losses.lm_objective import kd_and_ce
from kdistill.losses.token_divergence import DIVERGENCES, RESIDUAL_MODES
from kdistill.strategies.spec import register_method
from kdistill.teachers import Teacher


class LanguageModelDistillation(nn.Module):
    """The weighted token divergence (+ next-token CE) on corpus, student-sampled or teacher-written sequences."""

    def __init__(self, teacher: Teacher, divergence: dict, kd_weight: float, ce_weight: float, on_policy: float,
                 targets: str, prompt_length: int, sample_temperature: float, sample_seed: int):
        super().__init__()
        self.teacher = teacher
        self.divergence = divergence  # kind, beta, skew, temperature, residual, chunk_tokens
        self.kd_weight, self.ce_weight = kd_weight, ce_weight
        self.on_policy, self.targets = on_policy, targets
        self.prompt_length, self.sample_temperature, self.sample_seed = prompt_length, sample_temperature, sample_seed
        self.register_buffer("steps", torch.zeros((), dtype=torch.long))  # checkpointed: a resumed run draws alike

    def training_sequences(self, batch: Batch, student: nn.Module) -> tuple[Batch, str]:
        """The batch the loss is computed on, and where its tokens came from: corpus, student or teacher."""
        input_ids = batch["inputs"]["input_ids"]  # (B, T)
        generator = step_generator(self.sample_seed, int(self.steps), batch.get("index"))
        if self.training:
            self.steps += 1
        use_student = self.on_policy > 0 and float(torch.rand((), generator=generator)) < self.on_policy
        if not use_student and self.targets == "corpus":
            return batch, "corpus"
        length = input_ids.shape[1]
        if not 0 < self.prompt_length < length:
            raise ShapeError(f"prompt_length {self.prompt_length} must be between 1 and the block length - 1 "
                             f"({length - 1}) to leave tokens to generate")
        writer = student if use_student else self.teacher.model
        tokens = continue_prefix(writer, input_ids[:, :self.prompt_length], length - self.prompt_length, generator,
                                 self.sample_temperature)  # (B, T)
        labels = next_token_labels(tokens)
        labels[:, :self.prompt_length - 1] = IGNORE_INDEX  # score the generated tokens only
        return {**batch, "inputs": {"input_ids": tokens}, "labels": labels}, ("student" if use_student else "teacher")

    def forward(self, batch: Batch, student: nn.Module) -> dict[str, torch.Tensor]:
        sequences, origin = self.training_sequences(batch, student)
        labels = sequences["labels"]  # (B, T), -100 where nothing is predicted
        student_logits = forward_model(student, sequences)  # (B, T, V)
        teacher_output = self.teacher(sequences) if self.kd_weight else None  # (B, T, V) logits or TopKLogProbs
        terms = kd_and_ce(student_logits, teacher_output, labels, with_kd=bool(self.kd_weight),
                          with_ce=bool(self.ce_weight), divergence=self.divergence)
        total = student_logits.new_zeros((), dtype=torch.float32)
        for name, weight in (("kd", self.kd_weight), ("ce", self.ce_weight)):
            if name in terms:
                total = total + weight * terms[name]
        terms["generated"] = torch.tensor(float(origin != "corpus"))  # share of steps on generated sequences
        return {"loss": total, "output": student_logits, **{k: v.detach() for k, v in terms.items()}}


Divergence = Annotated[str, OneOf(DIVERGENCES)]
Residual = Annotated[str, OneOf(RESIDUAL_MODES)]
Targets = Annotated[str, OneOf(("corpus", "teacher"))]


@register_method("lm-distill", models="causal-lm", search_space={
    "kind": ("choice", list(DIVERGENCES)), "temperature": ("log", 0.5, 4.0), "ce_weight": ("uniform", 0.0, 1.0),
    "on_policy": ("uniform", 0.0, 1.0)})
def lm_distill(
    teacher: Teacher | None = None,
    kind: Divergence = "forward_kl",
    beta: Fraction = 0.5,
    skew: Annotated[float, Range(ge=0, lt=1)] = 0.1,
    temperature: Temperature = 1.0,
    residual: Residual = "renormalise",
    kd_weight: Weight = 1.0,
    ce_weight: Weight = 0.0,
    on_policy: Fraction = 0.0,
    targets: Targets = "corpus",
    prompt_length: PositiveInt = 64,
    sample_temperature: NonNegative = 1.0,
    sample_seed: int = 0,
    chunk_tokens: PositiveInt | None = None,
) -> LanguageModelDistillation:
    """Token-level LM distillation (forward/reverse KL, JSD, skew KL, TV) + next-token CE; on-policy GKD, SeqKD."""
    if teacher is None:
        raise ConfigError("method 'lm-distill' needs a teacher")
    generates = on_policy > 0 or targets == "teacher"
    if generates and not getattr(teacher, "scores_new_sequences", True):
        raise ConfigError(f"on_policy={on_policy} / targets={targets} score newly generated text, which a teacher "
                          "cache cannot: it holds the corpus blocks only; set distill.cache.enabled: false (a live "
                          "teacher) or on_policy: 0 and targets: corpus")
    if targets == "teacher" and getattr(teacher, "model", None) is None:
        raise ConfigError("targets: teacher (sequence-level KD) needs the teacher network to write continuations; "
                          "use a live teacher")
    if getattr(teacher, "answers_top_k", False) and residual == "renormalise" and ce_weight == 0:
        # Measured (benchmarks/results/lm.md, forward_kl-renormalise): test perplexity ~31,000 where the student
        # trained on next-token CE alone reaches ~2,500 - nothing kept its mass on the tokens the text actually has.
        raise ConfigError("residual: renormalise compares the student with a top-k teacher on the top-k tokens only, "
                          "and with ce_weight: 0 nothing keeps the student's probability off every other token (its "
                          "perplexity explodes); set ce_weight > 0 (e.g. 0.1) or residual: uniform")
    divergence = {"kind": kind, "beta": beta, "skew": skew, "temperature": temperature, "residual": residual}
    if chunk_tokens is not None:  # else each computation's own measured default (kdistill.losses.lm_objective)
        divergence["chunk_tokens"] = chunk_tokens
    return LanguageModelDistillation(teacher, divergence, kd_weight, ce_weight, on_policy, targets, prompt_length,
                                     sample_temperature, sample_seed)

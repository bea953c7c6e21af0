"""On-policy sampling: the same seed gives the same continuations, another seed or step other ones; the generated
tokens are the only ones scored; a teacher cache is refused for on-policy and sequence-level KD."""

import pytest
import torch

from kdistill.errors import ConfigError
from kdistill.lm.blocks import next_token_labels
from kdistill.lm.sampling import continue_prefix, step_generator
from kdistill.models import build_model
from kdistill.strategies import build_strategy
from kdistill.teachers import FrozenTeacher, Teacher

VOCAB, LENGTH = 30, 16
SHAPE = {"input_ids": (LENGTH,)}


def llama(seed, hidden=16):
    torch.manual_seed(seed)
    return build_model("llama-lm", SHAPE, VOCAB, hidden=hidden, layers=1, heads=2, kv_heads=1)


def block_batch(seed=0, count=3):
    ids = torch.randint(0, VOCAB, (count, LENGTH), generator=torch.Generator().manual_seed(seed))
    return {"inputs": {"input_ids": ids}, "labels": next_token_labels(ids), "index": torch.arange(count)}


def test_continuations_repeat_under_a_seed_and_differ_across_seeds():
    model, prefix = llama(0), block_batch()["inputs"]["input_ids"][:, :6]
    first = continue_prefix(model, prefix, 10, step_generator(7, 3, torch.arange(3)))
    again = continue_prefix(model, prefix, 10, step_generator(7, 3, torch.arange(3)))
    other_seed = continue_prefix(model, prefix, 10, step_generator(8, 3, torch.arange(3)))
    other_step = continue_prefix(model, prefix, 10, step_generator(7, 4, torch.arange(3)))
    assert first.shape == (3, 16) and torch.equal(first[:, :6], prefix)
    assert torch.equal(first, again)
    assert not torch.equal(first, other_seed) and not torch.equal(first, other_step)


def test_cached_decoding_samples_what_full_recomputation_samples():
    """The key-value cache path (one token per forward) draws exactly the tokens re-running the prefix would."""
    model, prefix = llama(1), block_batch(1)["inputs"]["input_ids"][:, :5]

    class NoCache(torch.nn.Module):
        def __init__(self, inner):
            super().__init__()
            self.inner = inner

        def forward(self, input_ids):
            return self.inner(input_ids=input_ids).logits

    cached = continue_prefix(model, prefix, 8, step_generator(0, 0), temperature=0.7)
    recomputed = continue_prefix(NoCache(model), prefix, 8, step_generator(0, 0), temperature=0.7)
    assert torch.equal(cached, recomputed)


def test_greedy_decoding_ignores_the_generator():
    model, prefix = llama(2), block_batch()["inputs"]["input_ids"][:, :4]
    greedy = continue_prefix(model, prefix, 6, step_generator(0, 0), temperature=0.0)
    assert torch.equal(greedy, continue_prefix(model, prefix, 6, step_generator(99, 5), temperature=0.0))


def test_on_policy_steps_repeat_with_the_seed_and_score_only_generated_tokens():
    teacher, batch = FrozenTeacher(llama(3, hidden=32)), block_batch()

    def losses(seed):
        student = llama(0)
        strategy = build_strategy("lm-distill", teacher=teacher, on_policy=1.0, prompt_length=10, sample_seed=seed)
        return [float(strategy(batch, student)["loss"].detach()) for _ in range(2)], strategy

    (first, second), strategy = losses(5)
    assert losses(5)[0] == [first, second]  # same seed: the same samples, step after step
    assert losses(6)[0] != [first, second]
    assert first != second  # the step count moves the generator on
    assert int(strategy.steps) == 2  # and is a buffer: checkpoints carry it
    sequences, origin = strategy.training_sequences(batch, llama(0))
    assert origin == "student"
    assert (sequences["labels"][:, :9] == -100).all() and (sequences["labels"][:, 9:-1] >= 0).all()
    assert torch.equal(sequences["inputs"]["input_ids"][:, :10], batch["inputs"]["input_ids"][:, :10])


def test_lambda_mixes_corpus_and_student_batches():
    teacher, batch = FrozenTeacher(llama(3, hidden=32)), block_batch()
    strategy = build_strategy("lm-distill", teacher=teacher, on_policy=0.5, prompt_length=8)
    origins = [strategy.training_sequences(batch, llama(0))[1] for _ in range(40)]
    assert 5 < origins.count("student") < 35 and set(origins) == {"student", "corpus"}


def test_sequence_level_kd_trains_on_the_teacher_continuation():
    teacher_model = llama(3, hidden=32)
    batch = block_batch()
    strategy = build_strategy("lm-distill", teacher=FrozenTeacher(teacher_model), targets="teacher",
                              prompt_length=6, sample_temperature=0.0)
    sequences, origin = strategy.training_sequences(batch, llama(0))
    expected = continue_prefix(teacher_model, batch["inputs"]["input_ids"][:, :6], 10, step_generator(0, 0), 0.0)
    assert origin == "teacher" and torch.equal(sequences["inputs"]["input_ids"], expected)


class StoredOnly(Teacher):
    scores_new_sequences = False


@pytest.mark.parametrize("arguments", [{"on_policy": 0.3}, {"targets": "teacher"}])
def test_a_teacher_cache_cannot_score_generated_text(arguments):
    with pytest.raises(ConfigError, match="distill.cache.enabled: false"):
        build_strategy("lm-distill", teacher=StoredOnly(), **arguments)


def test_prompt_must_leave_room_to_generate():
    strategy = build_strategy("lm-distill", teacher=FrozenTeacher(llama(3)), on_policy=1.0, prompt_length=LENGTH)
    with pytest.raises(Exception, match="prompt_length 16"):
        strategy(block_batch(), llama(0))

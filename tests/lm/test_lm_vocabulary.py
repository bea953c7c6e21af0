"""Vocabulary checks on small tokenizers built here (WordLevel and trained BPE, wrapped as HF fast tokenizers)."""

import pytest
import torch

from kdistill.errors import ConfigError, ShapeError
from kdistill.lm.vocabulary import VocabularyAlignment, check_vocabularies
from kdistill.losses.token_divergence import token_divergence

transformers = pytest.importorskip("transformers")
tokenizers = pytest.importorskip("tokenizers")

WORDS = {"<unk>": 0, "<s>": 1, "</s>": 2, "the": 3, "cat": 4, "sat": 5, "on": 6, "mat": 7}
TEXT = ["the cat sat on the mat", "a dog ran over the hill", "the king and the queen", "red tree by the river"] * 5


def word_level(vocab=WORDS, eos="</s>", added=()):
    model = tokenizers.Tokenizer(tokenizers.models.WordLevel(dict(vocab), unk_token="<unk>"))
    model.pre_tokenizer = tokenizers.pre_tokenizers.Whitespace()
    fast = transformers.PreTrainedTokenizerFast(tokenizer_object=model, unk_token="<unk>", bos_token="<s>",
                                                eos_token=eos)
    fast.add_tokens(list(added))
    return fast


def bpe(texts, vocab_size=60):
    model = tokenizers.Tokenizer(tokenizers.models.BPE(unk_token="<unk>"))
    model.pre_tokenizer = tokenizers.pre_tokenizers.Whitespace()
    trainer = tokenizers.trainers.BpeTrainer(vocab_size=vocab_size, special_tokens=["<unk>", "</s>"],
                                             show_progress=False)
    model.train_from_iterator(texts, trainer)
    return transformers.PreTrainedTokenizerFast(tokenizer_object=model, unk_token="<unk>", eos_token="</s>")


def error_of(*args, **kwargs) -> str:
    with pytest.raises(ConfigError) as error:
        check_vocabularies(*args, **kwargs)
    message = str(error.value)
    assert "\n" not in message  # one line, whatever the tokens hold
    return message


def test_identical_tokenizers_align_over_their_vocabulary():
    alignment = check_vocabularies(word_level(), word_level())
    assert alignment == VocabularyAlignment(shared_size=8, teacher_size=8, student_size=8, mode="identical")
    logits = torch.randn(2, 3, 8)
    assert alignment.teacher_logits(logits) is logits and alignment.student_logits(logits) is logits


def test_trained_bpe_tokenizers_identical_or_named_where_they_differ():
    assert check_vocabularies(bpe(TEXT), bpe(TEXT)).mode == "identical"
    teacher, student = bpe(TEXT), bpe([text.upper() for text in TEXT])
    message = error_of(teacher, student)
    assert f"teacher vocabulary ({len(teacher)} tokens) and student vocabulary ({len(student)} tokens)" in message
    assert "id 2: teacher 'a' vs student 'A'" in message
    assert "not prefix-compatible" in message


def test_padded_embedding_is_identical_with_the_padding_sliced_off():
    alignment = check_vocabularies(word_level(), word_level(), teacher_vocab_size=64)
    assert (alignment.mode, alignment.shared_size, alignment.teacher_size, alignment.student_size) == (
        "identical", 8, 64, 8)
    teacher = torch.randn(2, 3, 64)
    sliced = alignment.teacher_logits(teacher)
    assert sliced.shape == (2, 3, 8) and sliced.data_ptr() == teacher.data_ptr()  # a view
    assert torch.equal(sliced, teacher[..., :8])
    with pytest.raises(ShapeError, match="teacher logits have 8 entries but the teacher model .* has 64"):
        alignment.teacher_logits(torch.randn(2, 3, 8))


def test_model_smaller_than_its_tokenizer_is_refused():
    message = error_of(word_level(), word_level(), student_vocab_size=6)
    assert "student model predicts 6 tokens but its tokenizer has 8" in message


def test_a_different_token_names_both_sizes_and_the_first_differences():
    other = dict(WORDS)
    other.pop("cat"), other.pop("sat")
    other.update({"dog": 4, "ran": 5})
    message = error_of(word_level(), word_level(other))
    assert "teacher vocabulary (8 tokens) and student vocabulary (8 tokens) differ" in message
    assert "id 4: teacher 'cat' vs student 'dog', id 5: teacher 'sat' vs student 'ran'" in message
    assert "not prefix-compatible" in message
    # no alignment can fix a conflict inside the shared range
    assert "id 4" in error_of(word_level(), word_level(other), align="shared-prefix")


@pytest.mark.parametrize("extended", ["teacher", "student"])
def test_an_extension_names_the_extra_tokens_and_the_alignment_option(extended):
    larger, smaller = word_level(added=["<|im_start|>", "<|im_end|>"]), word_level()
    teacher, student = (larger, smaller) if extended == "teacher" else (smaller, larger)
    message = error_of(teacher, student)
    sizes = (10, 8) if extended == "teacher" else (8, 10)
    assert f"teacher vocabulary ({sizes[0]} tokens) and student vocabulary ({sizes[1]} tokens) differ" in message
    extra = "teacher '<|im_start|>' vs student (none)" if extended == "teacher" else \
        "teacher (none) vs student '<|im_start|>'"
    assert f"id 8: {extra}" in message
    assert f"the {extended}'s vocabulary extends the other's: set align: shared-prefix" in message
    alignment = check_vocabularies(teacher, student, align="shared-prefix")
    assert (alignment.mode, alignment.shared_size) == ("shared-prefix", 8)


def test_shared_prefix_alignment_feeds_the_loss_over_the_shared_tokens():
    alignment = check_vocabularies(word_level(), word_level(added=["<|im_start|>"]), align="shared-prefix")
    teacher, student = torch.randn(2, 4, 8), torch.randn(2, 4, 9, requires_grad=True)
    mask = torch.ones(2, 4, dtype=torch.bool)
    loss = token_divergence(alignment.student_logits(student), alignment.teacher_logits(teacher), mask)
    loss.backward()
    reference = token_divergence(student.detach()[..., :8].contiguous(), teacher, mask)
    assert float(loss.detach()) == pytest.approx(float(reference), rel=1e-6)
    assert (student.grad[..., 8] == 0).all() and (student.grad[..., :8] != 0).any()


def test_different_special_tokens_are_refused_by_role():
    message = error_of(word_level(), word_level(eos="<s>"))
    assert "eos_token is '</s>' for the teacher but '<s>' for the student" in message


def test_tokens_with_newlines_still_give_a_one_line_error():
    other = {**{key: value for key, value in WORDS.items() if key != "mat"}, "line\nbreak": 7}
    assert "id 7: teacher 'mat' vs student 'line\\nbreak'" in error_of(word_level(), word_level(other))


def test_raw_tokenizers_objects_are_accepted():
    raw = word_level().backend_tokenizer
    assert check_vocabularies(raw, raw).mode == "identical"


def test_unknown_alignment_and_objects_without_a_vocabulary():
    assert "choose shared-prefix or none" in error_of(word_level(), word_level(), align="truncate")
    assert "has no get_vocab()" in error_of(object(), word_level())

"""Causal LM students: initialised from a subset of the teacher's layers (equal widths only), built from a
pretrained folder's configuration, checked against the data's vocabulary, and round-tripped through save_pretrained."""

import pytest
import torch

from kdistill.errors import ConfigError
from kdistill.models import build_model
from kdistill.models.causal_lm import student_from_llama

transformers = pytest.importorskip("transformers")
VOCAB = 40
SHAPE = {"input_ids": (12,)}


def tiny_teacher(layers=6, seed=0):
    torch.manual_seed(seed)
    return build_model("llama-lm", SHAPE, VOCAB, hidden=32, layers=layers, heads=4, kv_heads=2)


def test_student_layers_are_copies_of_the_kept_teacher_layers():
    teacher = tiny_teacher()
    student = student_from_llama(teacher.config, 3, teacher=teacher, keep=[0, 2, 5])
    assert student.config.num_hidden_layers == 3 and teacher.config.num_hidden_layers == 6
    for i, j in enumerate([0, 2, 5]):
        for name, value in student.model.layers[i].state_dict().items():
            assert torch.equal(value, teacher.model.layers[j].state_dict()[name]), (i, name)
    assert torch.equal(student.model.embed_tokens.weight, teacher.model.embed_tokens.weight)
    assert torch.equal(student.model.norm.weight, teacher.model.norm.weight)
    assert student.lm_head.weight.data_ptr() == student.model.embed_tokens.weight.data_ptr()  # still tied


def test_default_kept_layers_spread_evenly_with_the_last():
    teacher = tiny_teacher()
    student = student_from_llama(teacher.config, 2, teacher=teacher)
    assert torch.equal(student.model.layers[1].mlp.up_proj.weight, teacher.model.layers[5].mlp.up_proj.weight)


def test_copying_layers_into_another_width_is_a_config_error():
    teacher = tiny_teacher()
    with pytest.raises(ConfigError, match="needs its width 32"):
        student_from_llama(teacher.config, 2, hidden=16, heads=2, kv_heads=1, teacher=teacher)
    with pytest.raises(ConfigError, match="keep must list 2 teacher layers"):
        student_from_llama(teacher.config, 2, teacher=teacher, keep=[0, 9])


def test_a_narrower_scratch_student_keeps_the_base_vocabulary_and_specials():
    teacher = tiny_teacher()
    student = student_from_llama(teacher.config, 2, hidden=16, heads=2, kv_heads=1)
    assert (student.config.vocab_size, student.config.hidden_size, student.config.head_dim) == (VOCAB, 16, 8)
    assert student.config.intermediate_size == teacher.config.intermediate_size // 2
    with pytest.raises(ConfigError, match="multiple of heads"):
        student_from_llama(teacher.config, 2, hidden=18, heads=4, kv_heads=2)


def test_llama_student_from_a_saved_base_folder(tmp_path):
    teacher = tiny_teacher()
    teacher.save_pretrained(str(tmp_path / "base"))
    copied = build_model("llama-student", SHAPE, VOCAB, layers=2, hidden=None, heads=None, kv_heads=None,
                         base=str(tmp_path / "base"), init="teacher", keep=[1, 3])
    assert torch.equal(copied.model.layers[0].self_attn.q_proj.weight, teacher.model.layers[1].self_attn.q_proj.weight)
    scratch = build_model("llama-student", SHAPE, VOCAB, layers=1, hidden=16, heads=2, kv_heads=1,
                          base=str(tmp_path / "base"))
    assert scratch.config.num_hidden_layers == 1 and scratch.config.vocab_size == VOCAB
    with pytest.raises(ConfigError, match="vocabulary of 40 tokens but the data's tokenizer has 41"):
        build_model("llama-student", SHAPE, VOCAB + 1, base=str(tmp_path / "base"), hidden=16, heads=2, kv_heads=1)


def test_save_pretrained_round_trip_gives_the_same_logits(tmp_path):
    student = build_model("llama-lm", SHAPE, VOCAB, hidden=16, layers=2, heads=2, kv_heads=1)
    student.save_pretrained(str(tmp_path / "student"))
    assert (tmp_path / "student" / "model.safetensors").is_file()
    reloaded = transformers.AutoModelForCausalLM.from_pretrained(str(tmp_path / "student"))
    ids = torch.randint(0, VOCAB, (2, 12), generator=torch.Generator().manual_seed(0))
    with torch.no_grad():
        assert torch.allclose(student(input_ids=ids).logits, reloaded(input_ids=ids).logits, atol=1e-6)

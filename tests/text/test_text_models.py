"""Student construction from a teacher, encoder layouts, projections, and the save_pretrained round trip."""

import pytest
import torch
import transformers
from text_helpers import tiny_bert

from kdistill.batch import forward_model
from kdistill.errors import ConfigError
from kdistill.features.transformer_layout import encoder_layout
from kdistill.models import MODELS
from kdistill.models.hf_student import student_from_teacher
from kdistill.models.hf_text import MeanPooledEncoder
from kdistill.strategies import build_strategy
from kdistill.teachers import FrozenTeacher
from kdistill.text.dataset import text_loader


def test_every_text_model_is_marked_and_bert_classifier_builds_offline(data):
    text_models = [name for name in MODELS.names() if getattr(MODELS.get(name), "inputs", None) == "text"]
    assert {"bert-classifier", "minilm-classifier", "minilm-embedder"} <= set(text_models)
    batch = next(iter(text_loader(data, 8, shuffle=False)))
    assert forward_model(tiny_bert(), batch).shape == (8, 2)


def test_encoder_layout_finds_layers_heads_and_width():
    layout = encoder_layout(tiny_bert(layers=3, hidden=32, heads=4))
    assert layout.prefix == "bert" and layout.embeddings == "bert.embeddings"
    assert layout.layers == ("bert.encoder.layer.0", "bert.encoder.layer.1", "bert.encoder.layer.2")
    assert layout.query(1) == "bert.encoder.layer.1.attention.self.query"
    assert (layout.heads, layout.width) == (4, 32)
    assert encoder_layout(MeanPooledEncoder(tiny_bert().bert)).prefix == "encoder"
    with pytest.raises(ConfigError):
        encoder_layout(torch.nn.Linear(2, 2))


def test_student_from_teacher_copies_the_kept_layers_embeddings_and_head():
    teacher = tiny_bert(layers=4)
    student = student_from_teacher(teacher, num_layers=2, keep=[1, 3])
    t, s = teacher.state_dict(), student.state_dict()
    assert student.config.num_hidden_layers == 2
    for key in s:
        source = key.replace("encoder.layer.0.", "encoder.layer.1.").replace("encoder.layer.1.", "encoder.layer.3.") \
            if key.startswith("bert.encoder.layer.1.") else key.replace("encoder.layer.0.", "encoder.layer.1.")
        assert torch.equal(s[key], t[source]), key
    assert torch.equal(s["classifier.weight"], t["classifier.weight"])


def test_a_narrower_student_starts_from_scratch_and_gets_projections(data):
    teacher = tiny_bert(layers=4, hidden=32)
    student = student_from_teacher(teacher, num_layers=2, hidden=16, init="scratch")
    assert (student.config.hidden_size, student.config.intermediate_size) == (16, 64)
    with pytest.raises(ConfigError, match="width"):
        student_from_teacher(teacher, num_layers=2, hidden=16, init="teacher")
    batch = next(iter(text_loader(data, 8, shuffle=False)))
    strategy = build_strategy("tinybert", teacher=FrozenTeacher(teacher), context={"student": student})
    assert strategy.hidden_projection.proj.weight.shape == (32, 16)  # (teacher width, student width)
    assert strategy.embedding_projection.proj.weight.shape == (32, 16)
    same = build_strategy("tinybert", teacher=FrozenTeacher(teacher),
                          context={"student": student_from_teacher(teacher, num_layers=2)})
    assert isinstance(same.hidden_projection, torch.nn.Identity)  # equal widths: no projection (projection: auto)
    assert torch.isfinite(strategy(batch, student)["loss"])


def test_save_pretrained_students_load_back_with_from_pretrained(tmp_path, data):
    student = student_from_teacher(tiny_bert(layers=4), num_layers=2).eval()
    batch = next(iter(text_loader(data, 8, shuffle=False)))
    student.save_pretrained(tmp_path / "student")
    loaded = transformers.AutoModelForSequenceClassification.from_pretrained(tmp_path / "student").eval()
    with torch.no_grad():
        torch.testing.assert_close(forward_model(loaded, batch), forward_model(student, batch))
    embedder = MeanPooledEncoder(student.bert)
    embedder.save_pretrained(tmp_path / "embedder")
    assert isinstance(transformers.AutoModel.from_pretrained(tmp_path / "embedder"), transformers.BertModel)


def test_mean_pooled_embeddings_ignore_padding(data):
    encoder = MeanPooledEncoder(tiny_bert().bert).eval()
    shortest = data.lengths().argsort()[:4]
    ids, mask = data.tokens["input_ids"][shortest], data.tokens["attention_mask"][shortest]
    longest = int(data.lengths()[shortest].max())
    with torch.no_grad():
        plain = encoder(ids, mask)
        other_padding = encoder(ids.masked_fill(mask == 0, 9), mask)  # other token ids where the mask is 0
        trimmed = encoder(ids[:, :longest], mask[:, :longest])
    assert longest < ids.shape[1]
    torch.testing.assert_close(plain, other_padding, rtol=1e-4, atol=1e-5)
    torch.testing.assert_close(plain, trimmed, rtol=1e-4, atol=1e-5)

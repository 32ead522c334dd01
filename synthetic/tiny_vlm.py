"""A tiny LLaVA-style vision-language model, built offline in a few seconds.

Tests, the demo and the benchmarks need a real Hugging Face VLM (CLIP vision
tower -> projector -> Llama decoder) that reloads with `AutoProcessor` /
`AutoModelForImageTextToText` with `HF_HUB_OFFLINE=1`. Nothing is downloaded:
the tokenizer is trained on the given corpus and the weights are random.

    tok = train_tokenizer(sentences)                  # PreTrainedTokenizerFast
    path = build_tiny_vlm("/tmp/vlm", sentences)      # save_pretrained'd dir
    model = AutoModelForImageTextToText.from_pretrained(path)
    processor = AutoProcessor.from_pretrained(path)

This API is shared (synthetic world bootstrap, training tests, benchmarks):
keep the signatures stable.
"""

from __future__ import annotations

from pathlib import Path

import torch
from tokenizers import Tokenizer, decoders, models, pre_tokenizers, trainers
from transformers import (
    CLIPVisionConfig,
    LlamaConfig,
    LlavaConfig,
    LlavaForConditionalGeneration,
    LlavaProcessor,
    PreTrainedTokenizerFast,
)

try:  # transformers >= 5.2x: the PIL backend needs no torchvision
    from transformers import CLIPImageProcessorPil as ImageProcessor
except ImportError:  # older 5.x (e.g. a GPU image with torchvision)
    from transformers import CLIPImageProcessor as ImageProcessor

SPECIALS = ["<pad>", "<s>", "</s>", "<image>"]

# USER: <image>\n{question}\nASSISTANT:\n{answer}</s>\n
# Literal newlines vanish under trim_blocks after a block tag, hence {{ '\n' }}.
# The prompt ends on "\n", a token boundary for both tokenizers, so
# tokenize(prompt) + tokenize(answer) == tokenize(prompt + answer).
CHAT_TEMPLATE = (
    "{{ bos_token }}"
    "{% for message in messages %}"
    "{% if message['role'] == 'user' %}USER: "
    "{% elif message['role'] == 'assistant' %}ASSISTANT:{{ '\n' }}"
    "{% else %}SYSTEM: {% endif %}"
    "{% if message['content'] is string %}{{ message['content'] }}"
    "{% else %}{% for part in message['content'] %}"
    "{% if part['type'] == 'image' %}<image>{{ '\n' }}"
    "{% elif part['type'] == 'text' %}{{ part['text'] }}{% endif %}"
    "{% endfor %}{% endif %}"
    "{% if message['role'] == 'assistant' %}{{ eos_token }}{% endif %}"
    "{{ '\n' }}"
    "{% endfor %}"
    "{% if add_generation_prompt %}ASSISTANT:{{ '\n' }}{% endif %}"
)


def train_tokenizer(corpus, *, vocab_size=384, word_level=False, chat_template=CHAT_TEMPLATE) -> PreTrainedTokenizerFast:
    """Train a byte-level BPE (or whitespace/punctuation WordLevel) tokenizer on `corpus`.

    Both keep character offsets (`return_offsets_mapping=True`), which the
    dense weights need. Specials: `<pad>` 0, `<s>` 1, `</s>` 2, `<image>` 3
    (WordLevel adds `<unk>` 4 for words outside the corpus).
    """
    corpus = list(corpus) + ["USER: ASSISTANT: SYSTEM:"]
    if word_level:
        tok = Tokenizer(models.WordLevel(unk_token="<unk>"))
        tok.pre_tokenizer = pre_tokenizers.Sequence(
            [pre_tokenizers.WhitespaceSplit(), pre_tokenizers.Punctuation()])
        tok.decoder = decoders.WordPiece(prefix="##", cleanup=True)
        trainer = trainers.WordLevelTrainer(vocab_size=vocab_size,
                                           special_tokens=SPECIALS + ["<unk>"])
    else:
        tok = Tokenizer(models.BPE())
        tok.pre_tokenizer = pre_tokenizers.ByteLevel(add_prefix_space=False)
        tok.decoder = decoders.ByteLevel()
        trainer = trainers.BpeTrainer(
            vocab_size=vocab_size, special_tokens=SPECIALS,
            initial_alphabet=pre_tokenizers.ByteLevel.alphabet(), show_progress=False)
    tok.train_from_iterator(corpus, trainer=trainer)
    return PreTrainedTokenizerFast(
        tokenizer_object=tok, pad_token="<pad>", bos_token="<s>", eos_token="</s>",
        unk_token="<unk>" if word_level else None,
        extra_special_tokens={"image_token": "<image>"},
        chat_template=chat_template, padding_side="left")


def build_tiny_vlm(out_dir, corpus, *, image_size=32, patch_size=8, vision_hidden=32,
                   vision_layers=2, text_hidden=64, text_layers=2, heads=4, vocab_size=384,
                   word_level=False, seed=0, chat_template=CHAT_TEMPLATE) -> Path:
    """Build a random LLaVA (CLIP + Llama) with a trained tokenizer; save it to `out_dir`.

    `chat_template`: this module's own by default (string or typed-part content);
    tests/families/tiny_llava.py passes the one llava-hf/llava-1.5-7b-hf ships."""
    out_dir = Path(out_dir)
    torch.manual_seed(seed)
    tokenizer = train_tokenizer(corpus, vocab_size=vocab_size, word_level=word_level, chat_template=chat_template)
    image_tokens = (image_size // patch_size) ** 2
    image_processor = ImageProcessor(
        size={"shortest_edge": image_size}, crop_size={"height": image_size, "width": image_size})
    processor = LlavaProcessor(
        image_processor=image_processor, tokenizer=tokenizer, patch_size=patch_size,
        vision_feature_select_strategy="default", num_additional_image_tokens=1,
        chat_template=chat_template)
    ids = dict(pad_token_id=tokenizer.pad_token_id, bos_token_id=tokenizer.bos_token_id,
               eos_token_id=tokenizer.eos_token_id)
    config = LlavaConfig(
        vision_config=CLIPVisionConfig(
            image_size=image_size, patch_size=patch_size, hidden_size=vision_hidden,
            intermediate_size=vision_hidden * 4, num_hidden_layers=vision_layers,
            num_attention_heads=heads, projection_dim=vision_hidden),
        text_config=LlamaConfig(
            vocab_size=len(tokenizer), hidden_size=text_hidden, intermediate_size=text_hidden * 4,
            num_hidden_layers=text_layers, num_attention_heads=heads, num_key_value_heads=heads,
            max_position_embeddings=1024, tie_word_embeddings=False, **ids),
        image_token_index=tokenizer.convert_tokens_to_ids("<image>"),
        image_seq_length=image_tokens, vision_feature_layer=-1,
        vision_feature_select_strategy="default", **ids)
    model = LlavaForConditionalGeneration(config)
    model.generation_config.update(**ids)
    return tiny_model_save(model, processor, out_dir)


def tiny_model_save(model, processor, out_dir: Path) -> Path:
    """Save a tiny model and its processor into ``out_dir`` (created), as ``from_pretrained`` loads a real one."""
    out_dir.mkdir(parents=True, exist_ok=True)
    model.save_pretrained(out_dir)
    processor.save_pretrained(out_dir)
    return out_dir

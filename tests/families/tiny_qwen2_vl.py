"""A tiny Qwen2-VL (~0.2M parameters), built offline in about a second.

Multimodal rotary positions (M-RoPE) and the patch-list image tensors
(`pixel_values` (patches, D), `image_grid_thw` (B, 3)) are what set this
family apart from LLaVA, so the DDPO tests run on it too. Nothing is
downloaded: the tokenizer is a byte-level BPE trained on the given corpus,
the weights are random.

    path = build_tiny_qwen2_vl("/tmp/qwen", sentences)
    model = AutoModelForImageTextToText.from_pretrained(path)    # Qwen2VLForConditionalGeneration
    processor = AutoProcessor.from_pretrained(path)              # Qwen2VLProcessor

By default every image is resized to 56x56: 8x8 patches of 7 pixels, merged
2x2 into 16 `<|image_pad|>` tokens on a 4x4 position grid; with a smaller
`min_pixels` images keep their aspect ratio (dynamic resolution), so images
of other sizes give other patch counts.

Without torchvision the processor is saved with the project's image-only
video processor stand-in (`training.ddpo.model.NoVideoProcessor`), which
`load_processor` uses for any checkpoint in a fresh process.
"""

from __future__ import annotations

from pathlib import Path

import torch
from transformers import (
    PreTrainedTokenizerFast,
    Qwen2VLConfig,
    Qwen2VLForConditionalGeneration,
    Qwen2VLProcessor,
)
from transformers.utils import is_torchvision_available

from synthetic.tiny_vlm import tiny_model_save
from tests.families.tokenizer import train_bpe
from training.ddpo.model import no_video_processor

try:  # transformers >= 5.2x: the PIL backend needs no torchvision
    from transformers import Qwen2VLImageProcessorPil as ImageProcessor
except ImportError:  # older 5.x (e.g. a GPU image with torchvision)
    from transformers import Qwen2VLImageProcessor as ImageProcessor

if is_torchvision_available():
    from transformers import Qwen2VLVideoProcessor as VideoProcessor
else:  # the video processor needs torchvision (transformers#48558): the project's loader uses this stand-in
    VideoProcessor = no_video_processor

SPECIALS = ["<|endoftext|>", "<|im_start|>", "<|im_end|>", "<|vision_start|>", "<|vision_end|>",
            "<|image_pad|>", "<|video_pad|>"]

# Qwen/Qwen2-VL-7B-Instruct (and Qwen/Qwen2.5-VL-7B-Instruct), chat_template.json, as published: a default
# system turn, content as a string or typed parts:
# <|im_start|>system\nYou are a helpful assistant.<|im_end|>\n
# <|im_start|>user\n<|vision_start|><|image_pad|><|vision_end|>{question}<|im_end|>\n
# <|im_start|>assistant\n{answer}<|im_end|>\n
CHAT_TEMPLATE = (
    "{% set image_count = namespace(value=0) %}{% set video_count = namespace(value=0) %}{% for message in messages %}"
    "{% if loop.first and message['role'] != 'system' %}<|im_start|>system\nYou are a helpful assistant.<|im_end|>\n"
    "{% endif %}<|im_start|>{{ message['role'] }}\n{% if message['content'] is string %}{{ message['content'] }}"
    "<|im_end|>\n{% else %}{% for content in message['content'] %}"
    "{% if content['type'] == 'image' or 'image' in content or 'image_url' in content %}"
    "{% set image_count.value = image_count.value + 1 %}{% if add_vision_id %}Picture {{ image_count.value }}: "
    "{% endif %}<|vision_start|><|image_pad|><|vision_end|>"
    "{% elif content['type'] == 'video' or 'video' in content %}{% set video_count.value = video_count.value + 1 %}"
    "{% if add_vision_id %}Video {{ video_count.value }}: {% endif %}<|vision_start|><|video_pad|><|vision_end|>"
    "{% elif 'text' in content %}{{ content['text'] }}{% endif %}{% endfor %}<|im_end|>\n{% endif %}{% endfor %}"
    "{% if add_generation_prompt %}<|im_start|>assistant\n{% endif %}"
)

IMAGE_SIZE, PATCH_SIZE, MERGE_SIZE = 56, 7, 2


def train_tokenizer(corpus, *, vocab_size=384) -> PreTrainedTokenizerFast:
    """Byte-level BPE on `corpus` with the Qwen2-VL specials (ids 0..6, in SPECIALS order)."""
    return train_bpe(corpus, SPECIALS, vocab_size=vocab_size, role_words="user assistant system",
                     pad_token="<|endoftext|>", eos_token="<|im_end|>",
                     extra_special_tokens={"image_token": "<|image_pad|>", "video_token": "<|video_pad|>"},
                     chat_template=CHAT_TEMPLATE, padding_side="left")


def build_tiny_qwen2_vl(out_dir, corpus, *, text_hidden=64, text_layers=2, heads=4, vision_dim=32,
                        vision_depth=1, vocab_size=384, seed=0, min_pixels=IMAGE_SIZE ** 2,
                        max_pixels=IMAGE_SIZE ** 2) -> Path:
    """Build a random Qwen2-VL with a trained tokenizer; save model + processor to `out_dir`.

    Images are resized to keep their aspect, sides multiples of 14, between `min_pixels` and `max_pixels`
    pixels (56x56 by default: every image the same)."""
    torch.manual_seed(seed)
    tokenizer, image_processor, ids, text_config = qwen_parts(corpus, vocab_size, text_hidden, text_layers, heads,
                                                              min_pixels, max_pixels)
    processor = Qwen2VLProcessor(image_processor=image_processor, tokenizer=tokenizer,
                                 video_processor=VideoProcessor(), chat_template=CHAT_TEMPLATE)
    config = Qwen2VLConfig(
        vision_config=dict(depth=vision_depth, embed_dim=vision_dim, hidden_size=text_hidden, mlp_ratio=2,
                           num_heads=heads, patch_size=PATCH_SIZE, spatial_merge_size=MERGE_SIZE,
                           temporal_patch_size=2),
        text_config=text_config, tie_word_embeddings=False, **ids)
    return save(Qwen2VLForConditionalGeneration(config), processor, out_dir)


def qwen_parts(corpus, vocab_size, text_hidden, text_layers, heads, min_pixels, max_pixels):
    """What Qwen2-VL and Qwen2.5-VL share: (tokenizer, image processor, token ids for the config, text config)."""
    tokenizer = train_tokenizer(corpus, vocab_size=vocab_size)
    image_processor = ImageProcessor(size={"shortest_edge": min_pixels, "longest_edge": max_pixels},
                                     patch_size=PATCH_SIZE, merge_size=MERGE_SIZE, temporal_patch_size=2)
    special = dict(pad_token_id=tokenizer.pad_token_id, bos_token_id=tokenizer.pad_token_id,
                   eos_token_id=tokenizer.eos_token_id)
    ids = {name: tokenizer.convert_tokens_to_ids(token) for name, token in [
        ("image_token_id", "<|image_pad|>"), ("video_token_id", "<|video_pad|>"),
        ("vision_start_token_id", "<|vision_start|>"), ("vision_end_token_id", "<|vision_end|>")]}
    head_dim = text_hidden // heads
    # M-RoPE splits the head_dim / 2 rotary frequencies into (temporal, height, width) sections.
    section = [head_dim // 2 - 2 * (head_dim // 6), head_dim // 6, head_dim // 6]
    text_config = dict(vocab_size=len(tokenizer), hidden_size=text_hidden, intermediate_size=text_hidden * 2,
                       num_hidden_layers=text_layers, num_attention_heads=heads, num_key_value_heads=heads,
                       max_position_embeddings=1024,
                       rope_parameters={"rope_type": "default", "rope_theta": 10000.0, "mrope_section": section},
                       **special)
    return tokenizer, image_processor, dict(ids, **special), text_config


def save(model, processor, out_dir) -> Path:
    out_dir = Path(out_dir)
    config = model.config
    model.generation_config.update(pad_token_id=config.pad_token_id, bos_token_id=config.bos_token_id,
                                   eos_token_id=config.eos_token_id)
    return tiny_model_save(model, processor, out_dir)

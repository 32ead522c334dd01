"""A tiny LLaVA-NeXT (CLIP + Mistral, "anyres" tiling) with the chat template llava-hf/llava-v1.6-mistral-7b-hf
ships, built offline in about a second.

    path = build_tiny_llava_next("/tmp/next", sentences)
    model = AutoModelForImageTextToText.from_pretrained(path)    # LlavaNextForConditionalGeneration
    processor = AutoProcessor.from_pretrained(path)              # LlavaNextProcessor

The vision tower sees 32x32 tiles (16 patches of 8 pixels). Each image is fitted to the best of the grid
pinpoints (32x64, 64x32, 64x64, 96x32, 32x96: the published ones scaled from 336 to 32) and cut into tiles,
plus one downscaled whole image: a square image gets 5 tiles, a wide or tall one 3, and a different number
of `<image>` tokens (padding rows and columns are dropped). The processor pads a batch's
`pixel_values` (B, tiles, 3, 32, 32) to the most tiles; `image_sizes` (B, 2) tells the model how many are real.

The published template reads typed parts only, has no generation prompt (the user turn ends in " [/INST]")
and ends an answer with the literal text `<\\s> ` (sic), not the end-of-sequence token:

    [INST] <image>\\nWhat is in the image? [/INST] There is a red circle.<\\s> 
"""
from __future__ import annotations

from pathlib import Path

import torch
from transformers import (
    CLIPVisionConfig,
    LlavaNextConfig,
    LlavaNextForConditionalGeneration,
    LlavaNextProcessor,
    MistralConfig,
)

from synthetic.tiny_vlm import tiny_model_save, train_tokenizer

try:  # transformers >= 5.2x: the PIL backend needs no torchvision
    from transformers import LlavaNextImageProcessorPil as ImageProcessor
except ImportError:  # older 5.x (e.g. a GPU image with torchvision)
    from transformers import LlavaNextImageProcessor as ImageProcessor

# llava-hf/llava-v1.6-mistral-7b-hf, chat_template.json, as published.
CHAT_TEMPLATE = (
    "{% for message in messages %}{% if message['role'] == 'system' %}"
    "{{ '<<SYS>>\\n' + message['content'][0]['text'] + '\\n<</SYS>>\\n\\n' }}{% elif message['role'] == 'user' %}"
    "{{ '[INST] ' }}{# Render all images first #}{% for content in message['content'] | selectattr('type', 'equalto', "
    "'image') %}{{ '<image>\\n' }}{% endfor %}{# Render all text next #}{% for content in message['content'] | "
    "selectattr('type', 'equalto', 'text') %}{{ content['text'] }}{% endfor %}{{' [/INST]' }}"
    "{% elif message['role'] == 'assistant' %}{{ ' ' + message['content'][0]['text'] + '<\\\\s> '}}"
    "{% else %}{{ raise_exception('Only user and assistant roles are supported!') }}{% endif %}{% endfor %}"
)

IMAGE_SIZE, PATCH_SIZE = 32, 8
PINPOINTS = [[32, 64], [64, 32], [64, 64], [96, 32], [32, 96]]


def build_tiny_llava_next(out_dir, corpus, *, vision_hidden=32, vision_layers=2, text_hidden=64, text_layers=2,
                          heads=4, vocab_size=384, seed=0) -> Path:
    """Build a random LLaVA-NeXT with a trained tokenizer; save model + processor to `out_dir`."""
    out_dir = Path(out_dir)
    torch.manual_seed(seed)
    tokenizer = train_tokenizer(corpus, vocab_size=vocab_size, chat_template=CHAT_TEMPLATE)
    image_processor = ImageProcessor(
        size={"shortest_edge": IMAGE_SIZE}, crop_size={"height": IMAGE_SIZE, "width": IMAGE_SIZE},
        image_grid_pinpoints=PINPOINTS)
    processor = LlavaNextProcessor(
        image_processor=image_processor, tokenizer=tokenizer, patch_size=PATCH_SIZE,
        vision_feature_select_strategy="default", num_additional_image_tokens=1, chat_template=CHAT_TEMPLATE)
    ids = dict(pad_token_id=tokenizer.pad_token_id, bos_token_id=tokenizer.bos_token_id,
               eos_token_id=tokenizer.eos_token_id)
    config = LlavaNextConfig(
        vision_config=CLIPVisionConfig(
            image_size=IMAGE_SIZE, patch_size=PATCH_SIZE, hidden_size=vision_hidden,
            intermediate_size=vision_hidden * 4, num_hidden_layers=vision_layers, num_attention_heads=heads,
            projection_dim=vision_hidden),
        text_config=MistralConfig(
            vocab_size=len(tokenizer), hidden_size=text_hidden, intermediate_size=text_hidden * 4,
            num_hidden_layers=text_layers, num_attention_heads=heads, num_key_value_heads=heads // 2,
            max_position_embeddings=1024, sliding_window=None, tie_word_embeddings=False, **ids),
        image_token_index=tokenizer.convert_tokens_to_ids("<image>"), image_grid_pinpoints=PINPOINTS,
        vision_feature_layer=-1, vision_feature_select_strategy="default", tie_word_embeddings=False, **ids)
    model = LlavaNextForConditionalGeneration(config)
    model.generation_config.update(**ids)
    return tiny_model_save(model, processor, out_dir)

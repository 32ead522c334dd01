"""A tiny Idefics3 (the architecture of SmolVLM-Instruct and Idefics3-8B), built offline in about a second.

What sets the family apart: image splitting. Each image is resized so its longest edge is 32 pixels and
cut into 16x16 tiles (rows x cols by its aspect ratio) plus one global 16x16 view, so images of different
shapes give different numbers of tiles: `pixel_values` (B, max tiles, 3, 16, 16) zero-padded per image
list, `pixel_attention_mask` (B, max tiles, 16, 16) marking the real pixels. Each tile becomes
`<fake_token_around_image><row_r_col_c>` + 4 `<image>` tokens (4x4 patches of 4 pixels, pixel-shuffled
2x2), the global view `<fake_token_around_image><global-img>` + 4 `<image>` + `<fake_token_around_image>`.

    path = build_tiny_idefics3("/tmp/idefics3", sentences)
    model = AutoModelForImageTextToText.from_pretrained(path)   # Idefics3ForConditionalGeneration
    processor = AutoProcessor.from_pretrained(path)             # Idefics3Processor

The chat template is SmolVLM-Instruct's (HuggingFaceTB/SmolVLM-Instruct, chat_template.json): it reads
every message's content as a list of typed parts (a string content renders as nothing).
"""

from __future__ import annotations

from pathlib import Path

import torch
from transformers import (
    Idefics3Config,
    Idefics3ForConditionalGeneration,
    Idefics3Processor,
)

from synthetic.tiny_vlm import tiny_model_save
from tests.families.tokenizer import train_bpe

try:  # transformers >= 5.2x: the PIL backend needs no torchvision
    from transformers import Idefics3ImageProcessorPil as ImageProcessor
except ImportError:  # older 5.x (a GPU image with torchvision)
    from transformers import Idefics3ImageProcessor as ImageProcessor

ROW_COL = [f"<row_{r}_col_{c}>" for r in range(1, 7) for c in range(1, 7)]
SPECIALS = ["<|endoftext|>", "<|im_start|>", "<|im_end|>", "<end_of_utterance>", "<fake_token_around_image>",
            "<image>", "<global-img>", *ROW_COL]

# HuggingFaceTB/SmolVLM-Instruct's template, verbatim.
CHAT_TEMPLATE = (
    "<|im_start|>{% for message in messages %}{{message['role'] | capitalize}}"
    "{% if message['content'][0]['type'] == 'image' %}{{':'}}{% else %}{{': '}}{% endif %}"
    "{% for line in message['content'] %}{% if line['type'] == 'text' %}{{line['text']}}"
    "{% elif line['type'] == 'image' %}{{ '<image>' }}{% endif %}{% endfor %}<end_of_utterance>\n"
    "{% endfor %}{% if add_generation_prompt %}{{ 'Assistant:' }}{% endif %}"
)

TILE, LONGEST_EDGE, PATCH, SCALE = 16, 32, 4, 2
IMAGE_SEQ_LEN = (TILE // PATCH) ** 2 // SCALE ** 2          # 4 <image> tokens per tile


def build_tiny_idefics3(out_dir, corpus, *, text_hidden=64, text_layers=2, heads=4, vision_dim=32,
                        vocab_size=384, seed=0) -> Path:
    """Build a random Idefics3 with a trained tokenizer; save model + processor to `out_dir`."""
    out_dir = Path(out_dir)
    torch.manual_seed(seed)
    # As SmolVLM-Instruct: bos <|im_start|>, eos <end_of_utterance>, pad <|im_end|>.
    tokenizer = train_bpe(corpus, SPECIALS, vocab_size=vocab_size, bos_token="<|im_start|>",
                          eos_token="<end_of_utterance>", pad_token="<|im_end|>",
                          extra_special_tokens={"image_token": "<image>"}, padding_side="left")
    tokenizer.chat_template = CHAT_TEMPLATE
    image_processor = ImageProcessor(do_image_splitting=True, size={"longest_edge": LONGEST_EDGE},
                                     max_image_size={"longest_edge": TILE})
    processor = Idefics3Processor(image_processor=image_processor, tokenizer=tokenizer,
                                  image_seq_len=IMAGE_SEQ_LEN, chat_template=CHAT_TEMPLATE)
    special = dict(pad_token_id=tokenizer.pad_token_id, bos_token_id=tokenizer.bos_token_id,
                   eos_token_id=tokenizer.eos_token_id)
    config = Idefics3Config(
        vision_config=dict(hidden_size=vision_dim, intermediate_size=vision_dim * 2, num_hidden_layers=1,
                           num_attention_heads=2, image_size=TILE, patch_size=PATCH),
        text_config=dict(model_type="llama", vocab_size=len(tokenizer), hidden_size=text_hidden,
                         intermediate_size=text_hidden * 2, num_hidden_layers=text_layers,
                         num_attention_heads=heads, num_key_value_heads=heads, max_position_embeddings=1024,
                         **special),
        scale_factor=SCALE, image_token_id=tokenizer.convert_tokens_to_ids("<image>"),
        tie_word_embeddings=False, **special)
    model = Idefics3ForConditionalGeneration(config)
    model.generation_config.update(**special)
    return tiny_model_save(model, processor, out_dir)

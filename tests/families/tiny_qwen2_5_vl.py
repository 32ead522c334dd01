"""A tiny Qwen2.5-VL, built offline in about a second: Qwen2-VL's tokenizer, template and image processor
(tests/families/tiny_qwen2_vl.py) with Qwen2.5-VL's vision tower, windowed attention in one block of two.

    path = build_tiny_qwen2_5_vl("/tmp/qwen25", sentences)
    model = AutoModelForImageTextToText.from_pretrained(path)    # Qwen2_5_VLForConditionalGeneration
    processor = AutoProcessor.from_pretrained(path)              # Qwen2_5_VLProcessor

Images keep their aspect ratio (dynamic resolution) between 28x28 and 56x56 pixels by default: 4 to 16
`<|image_pad|>` tokens, so images of other sizes give other patch counts.
"""
from __future__ import annotations

from pathlib import Path

import torch
from transformers import (
    Qwen2_5_VLConfig,
    Qwen2_5_VLForConditionalGeneration,
    Qwen2_5_VLProcessor,
)

from tests.families.tiny_qwen2_vl import (
    CHAT_TEMPLATE,
    MERGE_SIZE,
    PATCH_SIZE,
    VideoProcessor,
    qwen_parts,
    save,
)


def build_tiny_qwen2_5_vl(out_dir, corpus, *, text_hidden=64, text_layers=2, heads=4, vision_dim=32, vocab_size=384,
                          seed=0, min_pixels=28 * 28, max_pixels=56 * 56) -> Path:
    """Build a random Qwen2.5-VL with a trained tokenizer; save model + processor to `out_dir`."""
    torch.manual_seed(seed)
    tokenizer, image_processor, ids, text_config = qwen_parts(corpus, vocab_size, text_hidden, text_layers, heads,
                                                              min_pixels, max_pixels)
    processor = Qwen2_5_VLProcessor(image_processor=image_processor, tokenizer=tokenizer,
                                    video_processor=VideoProcessor(), chat_template=CHAT_TEMPLATE)
    config = Qwen2_5_VLConfig(
        # window_size 28 pixels: windows of 2x2 merged patches in block 0, full attention in block 1.
        vision_config=dict(depth=2, hidden_size=vision_dim, intermediate_size=vision_dim * 2, num_heads=heads,
                           out_hidden_size=text_hidden, patch_size=PATCH_SIZE, spatial_merge_size=MERGE_SIZE,
                           temporal_patch_size=2, window_size=2 * MERGE_SIZE * PATCH_SIZE, fullatt_block_indexes=[1]),
        text_config=text_config, tie_word_embeddings=False, **ids)
    return save(Qwen2_5_VLForConditionalGeneration(config), processor, out_dir)

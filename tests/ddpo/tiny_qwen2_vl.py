"""A tiny Qwen2-VL (~0.2M parameters), built offline in about a second.

Multimodal rotary positions (M-RoPE) and the patch-list image tensors
(`pixel_values` (patches, D), `image_grid_thw` (B, 3)) are what set this
family apart from LLaVA, so the DDPO tests run on it too. Nothing is
downloaded: the tokenizer is a byte-level BPE trained on the given corpus,
the weights are random.

    path = build_tiny_qwen2_vl("/tmp/qwen", sentences)
    model = AutoModelForImageTextToText.from_pretrained(path)    # Qwen2VLForConditionalGeneration
    processor = AutoProcessor.from_pretrained(path)              # Qwen2VLProcessor

Every image is resized to 56x56: 8x8 patches of 7 pixels, merged 2x2 into
16 `<|image_pad|>` tokens on a 4x4 position grid.

Without torchvision, importing this module registers an image-only video
processor stand-in (see below): a process that reloads the saved folder
must import it first (the tests do; the CLI in a fresh process does not).
"""

from __future__ import annotations

from pathlib import Path

import torch
from tokenizers import Tokenizer, decoders, models, pre_tokenizers, trainers
from transformers import (
    PreTrainedTokenizerFast,
    Qwen2VLConfig,
    Qwen2VLForConditionalGeneration,
    Qwen2VLProcessor,
    processing_utils,
)
from transformers.utils import is_torchvision_available

try:  # transformers >= 5.2x: the PIL backend needs no torchvision
    from transformers import Qwen2VLImageProcessorPil as ImageProcessor
except ImportError:  # older 5.x (e.g. a GPU image with torchvision)
    from transformers import Qwen2VLImageProcessor as ImageProcessor

if is_torchvision_available():
    from transformers import Qwen2VLVideoProcessor as VideoProcessor
else:
    # transformers 5.x builds and reloads every sub-processor a processor names, and
    # Qwen2VLVideoProcessor needs torchvision (transformers#48558): register an
    # image-only stand-in, and expose the base class the argument check looks up.
    from transformers.models.auto.video_processing_auto import AutoVideoProcessor
    from transformers.video_processing_utils import VideoProcessorMixin

    class Qwen2VLNoVideoProcessor(VideoProcessorMixin):
        """No videos: saved and reloaded so the processor is complete, never called."""

        model_input_names = ["pixel_values_videos", "video_grid_thw"]

    if not hasattr(processing_utils.transformers_module, "VideoProcessorMixin"):
        processing_utils.transformers_module.VideoProcessorMixin = VideoProcessorMixin
    AutoVideoProcessor.register(Qwen2VLConfig, Qwen2VLNoVideoProcessor, exist_ok=True)
    VideoProcessor = Qwen2VLNoVideoProcessor

SPECIALS = ["<|endoftext|>", "<|im_start|>", "<|im_end|>", "<|vision_start|>", "<|vision_end|>",
            "<|image_pad|>", "<|video_pad|>"]

# <|im_start|>user\n<|vision_start|><|image_pad|><|vision_end|>{question}<|im_end|>\n
# <|im_start|>assistant\n{answer}<|im_end|>\n
# Literal newlines vanish under trim_blocks after a block tag, hence {{ '\n' }}.
CHAT_TEMPLATE = (
    "{% for message in messages %}"
    "<|im_start|>{{ message['role'] }}{{ '\n' }}"
    "{% if message['content'] is string %}{{ message['content'] }}"
    "{% else %}{% for part in message['content'] %}"
    "{% if part['type'] == 'image' %}<|vision_start|><|image_pad|><|vision_end|>"
    "{% elif part['type'] == 'text' %}{{ part['text'] }}{% endif %}"
    "{% endfor %}{% endif %}"
    "<|im_end|>{{ '\n' }}"
    "{% endfor %}"
    "{% if add_generation_prompt %}<|im_start|>assistant{{ '\n' }}{% endif %}"
)

IMAGE_SIZE, PATCH_SIZE, MERGE_SIZE = 56, 7, 2


def train_tokenizer(corpus, *, vocab_size=384) -> PreTrainedTokenizerFast:
    """Byte-level BPE on `corpus` with the Qwen2-VL specials (ids 0..6, in SPECIALS order)."""
    tok = Tokenizer(models.BPE())
    tok.pre_tokenizer = pre_tokenizers.ByteLevel(add_prefix_space=False)
    tok.decoder = decoders.ByteLevel()
    trainer = trainers.BpeTrainer(vocab_size=vocab_size, special_tokens=SPECIALS,
                                  initial_alphabet=pre_tokenizers.ByteLevel.alphabet(), show_progress=False)
    tok.train_from_iterator(list(corpus) + ["user assistant system"], trainer=trainer)
    return PreTrainedTokenizerFast(
        tokenizer_object=tok, pad_token="<|endoftext|>", eos_token="<|im_end|>",
        extra_special_tokens={"image_token": "<|image_pad|>", "video_token": "<|video_pad|>"},
        chat_template=CHAT_TEMPLATE, padding_side="left")


def build_tiny_qwen2_vl(out_dir, corpus, *, text_hidden=64, text_layers=2, heads=4, vision_dim=32,
                        vision_depth=1, vocab_size=384, seed=0) -> Path:
    """Build a random Qwen2-VL with a trained tokenizer; save model + processor to `out_dir`."""
    out_dir = Path(out_dir)
    torch.manual_seed(seed)
    tokenizer = train_tokenizer(corpus, vocab_size=vocab_size)
    pixels = IMAGE_SIZE * IMAGE_SIZE
    image_processor = ImageProcessor(size={"shortest_edge": pixels, "longest_edge": pixels},
                                     patch_size=PATCH_SIZE, merge_size=MERGE_SIZE, temporal_patch_size=2)
    processor = Qwen2VLProcessor(image_processor=image_processor, tokenizer=tokenizer,
                                 video_processor=VideoProcessor(), chat_template=CHAT_TEMPLATE)
    ids = {name: tokenizer.convert_tokens_to_ids(token) for name, token in [
        ("image_token_id", "<|image_pad|>"), ("video_token_id", "<|video_pad|>"),
        ("vision_start_token_id", "<|vision_start|>"), ("vision_end_token_id", "<|vision_end|>")]}
    special = dict(pad_token_id=tokenizer.pad_token_id, bos_token_id=tokenizer.pad_token_id,
                   eos_token_id=tokenizer.eos_token_id)
    head_dim = text_hidden // heads
    # M-RoPE splits the head_dim / 2 rotary frequencies into (temporal, height, width) sections.
    section = [head_dim // 2 - 2 * (head_dim // 6), head_dim // 6, head_dim // 6]
    config = Qwen2VLConfig(
        vision_config=dict(depth=vision_depth, embed_dim=vision_dim, hidden_size=text_hidden, mlp_ratio=2,
                           num_heads=heads, patch_size=PATCH_SIZE, spatial_merge_size=MERGE_SIZE,
                           temporal_patch_size=2),
        text_config=dict(vocab_size=len(tokenizer), hidden_size=text_hidden, intermediate_size=text_hidden * 2,
                         num_hidden_layers=text_layers, num_attention_heads=heads, num_key_value_heads=heads,
                         max_position_embeddings=1024,
                         rope_parameters={"rope_type": "default", "rope_theta": 10000.0, "mrope_section": section},
                         **special),
        tie_word_embeddings=False, **ids, **special)
    model = Qwen2VLForConditionalGeneration(config)
    model.generation_config.update(**special)
    out_dir.mkdir(parents=True, exist_ok=True)
    model.save_pretrained(out_dir)
    processor.save_pretrained(out_dir)
    return out_dir

"""A tiny Gemma 3 (Gemma3ForConditionalGeneration, as google/gemma-3-4b-it), built offline in about a second.

What sets the family apart: image tokens attend to each other both ways (the processor's `token_type_ids`,
1 on `<image_soft_token>`, give the model its bidirectional block over each image), sliding-window layers
beside global ones (window 8 here, so prompts outrun it), and a fixed number of tokens per image
(`mm_tokens_per_image`): every image is resized to 28x28, 4x4 SigLIP patches of 7 pixels pooled to 2x2 =
4 soft tokens, written `\\n\\n<start_of_image>` + 4 `<image_soft_token>` + `<end_of_image>\\n\\n`.

    path = build_tiny_gemma3("/tmp/gemma3", sentences)
    model = AutoModelForImageTextToText.from_pretrained(path)   # Gemma3ForConditionalGeneration
    processor = AutoProcessor.from_pretrained(path)             # Gemma3Processor

The chat template is google/gemma-3-4b-it's (tokenizer_config.json): `<bos>`, `<start_of_turn>user` /
`model`, content as a string or a list of typed parts, each text part trimmed.
"""

from __future__ import annotations

from pathlib import Path

import torch
from transformers import Gemma3Config, Gemma3ForConditionalGeneration, Gemma3Processor

from synthetic.tiny_vlm import tiny_model_save
from tests.families.tokenizer import train_bpe

try:  # transformers >= 5.2x: the PIL backend needs no torchvision
    from transformers import Gemma3ImageProcessorPil as ImageProcessor
except ImportError:
    from transformers import Gemma3ImageProcessor as ImageProcessor

# Gemma's order where it has one (pad 0, eos 1, bos 2, unk 3).
SPECIALS = ["<pad>", "<eos>", "<bos>", "<unk>", "<start_of_turn>", "<end_of_turn>", "<start_of_image>",
            "<end_of_image>", "<image_soft_token>"]

# google/gemma-3-4b-it's template, verbatim.
CHAT_TEMPLATE = (
    "{{ bos_token }}\n"
    "{%- if messages[0]['role'] == 'system' -%}\n"
    "    {%- if messages[0]['content'] is string -%}\n"
    "        {%- set first_user_prefix = messages[0]['content'] + '\\n\\n' -%}\n"
    "    {%- else -%}\n"
    "        {%- set first_user_prefix = messages[0]['content'][0]['text'] + '\\n\\n' -%}\n"
    "    {%- endif -%}\n"
    "    {%- set loop_messages = messages[1:] -%}\n"
    "{%- else -%}\n"
    "    {%- set first_user_prefix = \"\" -%}\n"
    "    {%- set loop_messages = messages -%}\n"
    "{%- endif -%}\n"
    "{%- for message in loop_messages -%}\n"
    "    {%- if (message['role'] == 'user') != (loop.index0 % 2 == 0) -%}\n"
    "        {{ raise_exception(\"Conversation roles must alternate user/assistant/user/assistant/...\") }}\n"
    "    {%- endif -%}\n"
    "    {%- if (message['role'] == 'assistant') -%}\n"
    "        {%- set role = \"model\" -%}\n"
    "    {%- else -%}\n"
    "        {%- set role = message['role'] -%}\n"
    "    {%- endif -%}\n"
    "    {{ '<start_of_turn>' + role + '\\n' + (first_user_prefix if loop.first else \"\") }}\n"
    "    {%- if message['content'] is string -%}\n"
    "        {{ message['content'] | trim }}\n"
    "    {%- elif message['content'] is iterable -%}\n"
    "        {%- for item in message['content'] -%}\n"
    "            {%- if item['type'] == 'image' -%}\n"
    "                {{ '<start_of_image>' }}\n"
    "            {%- elif item['type'] == 'text' -%}\n"
    "                {{ item['text'] | trim }}\n"
    "            {%- endif -%}\n"
    "        {%- endfor -%}\n"
    "    {%- else -%}\n"
    "        {{ raise_exception(\"Invalid content type\") }}\n"
    "    {%- endif -%}\n"
    "    {{ '<end_of_turn>\\n' }}\n"
    "{%- endfor -%}\n"
    "{%- if add_generation_prompt -%}\n"
    "    {{'<start_of_turn>model\\n'}}\n"
    "{%- endif -%}\n"
)

IMAGE_SIZE, PATCH, TOKENS_PER_IMAGE, SLIDING_WINDOW = 28, 7, 4, 8


def build_tiny_gemma3(out_dir, corpus, *, text_hidden=64, text_layers=2, heads=4, vision_dim=32,
                      vocab_size=384, seed=0) -> Path:
    """Build a random Gemma 3 with a trained tokenizer; save model + processor to `out_dir`."""
    out_dir = Path(out_dir)
    torch.manual_seed(seed)
    tokenizer = train_bpe(corpus, SPECIALS, vocab_size=vocab_size, pad_token="<pad>", eos_token="<eos>",
                          bos_token="<bos>", unk_token="<unk>", padding_side="left",
                          extra_special_tokens={"image_token": "<image_soft_token>", "boi_token": "<start_of_image>",
                                                "eoi_token": "<end_of_image>"})
    tokenizer.chat_template = CHAT_TEMPLATE
    image_processor = ImageProcessor(size={"height": IMAGE_SIZE, "width": IMAGE_SIZE}, image_mean=[0.5] * 3,
                                     image_std=[0.5] * 3)
    processor = Gemma3Processor(image_processor=image_processor, tokenizer=tokenizer,
                                image_seq_length=TOKENS_PER_IMAGE, chat_template=CHAT_TEMPLATE)
    end_of_turn = tokenizer.convert_tokens_to_ids("<end_of_turn>")
    special = dict(pad_token_id=tokenizer.pad_token_id, bos_token_id=tokenizer.bos_token_id,
                   eos_token_id=tokenizer.eos_token_id)
    head_dim = text_hidden // heads
    config = Gemma3Config(
        vision_config=dict(hidden_size=vision_dim, intermediate_size=vision_dim * 2, num_hidden_layers=1,
                           num_attention_heads=2, image_size=IMAGE_SIZE, patch_size=PATCH),
        text_config=dict(vocab_size=len(tokenizer), hidden_size=text_hidden, intermediate_size=text_hidden * 2,
                         num_hidden_layers=text_layers, num_attention_heads=heads, num_key_value_heads=heads // 2,
                         head_dim=head_dim, query_pre_attn_scalar=head_dim, sliding_window=SLIDING_WINDOW,
                         layer_types=["sliding_attention", "full_attention"] * (text_layers // 2)
                         + ["sliding_attention"] * (text_layers % 2),
                         max_position_embeddings=1024, **special),
        mm_tokens_per_image=TOKENS_PER_IMAGE, image_token_id=tokenizer.convert_tokens_to_ids("<image_soft_token>"),
        boi_token_id=tokenizer.convert_tokens_to_ids("<start_of_image>"),
        eoi_token_id=tokenizer.convert_tokens_to_ids("<end_of_image>"), **special)
    model = Gemma3ForConditionalGeneration(config)
    # transformers initialises the image projection to zeros: images would not reach the language model.
    torch.nn.init.normal_(model.model.multi_modal_projector.mm_input_projection_weight, std=0.05)
    # As gemma-3-4b-it: generation stops at <eos> or <end_of_turn>.
    model.generation_config.update(**dict(special, eos_token_id=[tokenizer.eos_token_id, end_of_turn]))
    return tiny_model_save(model, processor, out_dir)

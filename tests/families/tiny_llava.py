"""A tiny LLaVA-1.5 (CLIP + Llama) with the chat template llava-hf/llava-1.5-7b-hf ships.

The model is synthetic/tiny_vlm.py's; only the template differs: the published
one renders typed parts only (a message's content must be a list of
`{"type": "image"}` / `{"type": "text", "text": ...}`), puts a space after every
text and no end-of-sequence token after the answer:

    USER: <image>\\nWhat is in the image? ASSISTANT: There is a red circle. 

Every image is resized and center-cropped to 32x32: 16 `<image>` tokens.
"""
from __future__ import annotations

from synthetic.tiny_vlm import build_tiny_vlm

# llava-hf/llava-1.5-7b-hf, chat_template.json, as published.
CHAT_TEMPLATE = (
    "{% for message in messages %}{% if message['role'] != 'system' %}{{ message['role'].upper() + ': '}}{% endif %}"
    "{# Render all images first #}{% for content in message['content'] | selectattr('type', 'equalto', 'image') %}"
    "{{ '<image>\n' }}{% endfor %}{# Render all text next #}{% if message['role'] != 'assistant' %}"
    "{% for content in message['content'] | selectattr('type', 'equalto', 'text') %}{{ content['text'] + ' '}}"
    "{% endfor %}{% else %}{% for content in message['content'] | selectattr('type', 'equalto', 'text') %}"
    "{% generation %}{{ content['text'] + ' '}}{% endgeneration %}{% endfor %}{% endif %}{% endfor %}"
    "{% if add_generation_prompt %}{{ 'ASSISTANT:' }}{% endif %}"
)


def build_tiny_llava(out_dir, corpus, **kwargs):
    """synthetic.tiny_vlm.build_tiny_vlm with the published LLaVA-1.5 chat template."""
    return build_tiny_vlm(out_dir, corpus, chat_template=CHAT_TEMPLATE, **kwargs)

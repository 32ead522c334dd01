"""training.generation: batched answers from any checkpoint, without Django."""
import pytest
from PIL import Image

from training.generation import SamplingParams, generate, load_generator

pytestmark = pytest.mark.slow

QUESTIONS = ["Describe the image in detail.", "What colour is the circle?", "How many squares are there?",
             "Is there a triangle at the top left of the image?", "Describe it."]


def prompts(count, with_images=True):
    return [
        {"question": QUESTIONS[i % len(QUESTIONS)],
         "image": Image.new("RGB", (32, 32), (40 * i % 256, 90, 200 - 20 * i)) if with_images and i % 4 else None}
        for i in range(count)
    ]


@pytest.fixture(scope="module")
def vlm(tiny_vlm):
    return load_generator(tiny_vlm)


@pytest.fixture(scope="module")
def causal_lm(tmp_path_factory):
    """A tiny text-only Llama with the same kind of tokenizer."""
    from transformers import LlamaConfig, LlamaForCausalLM

    from synthetic.tiny_vlm import train_tokenizer
    from tests.training.conftest import CORPUS

    tokenizer = train_tokenizer(CORPUS * 10)
    ids = dict(pad_token_id=tokenizer.pad_token_id, bos_token_id=tokenizer.bos_token_id, eos_token_id=tokenizer.eos_token_id)
    model = LlamaForCausalLM(LlamaConfig(vocab_size=len(tokenizer), hidden_size=32, intermediate_size=64,
                                         num_hidden_layers=2, num_attention_heads=4, **ids))
    path = tmp_path_factory.mktemp("tiny-lm")
    model.save_pretrained(path)
    tokenizer.save_pretrained(path)
    return load_generator(path)


def test_batched_greedy_equals_one_at_a_time_vlm(vlm):
    """Left-padded batches (images and text-only prompts mixed) give the answers of one-prompt generation."""
    params = SamplingParams(max_new_tokens=12, batch_size=4)
    items = prompts(9)
    batched = generate(vlm, items, params)
    alone = [generate(vlm, [item], params)[0] for item in items]
    assert batched == alone
    assert all(len(samples) == 1 and samples[0] for samples in batched)


def test_batched_greedy_equals_one_at_a_time_causal_lm(causal_lm):
    """A text-only causal LM loads through the same entry point and batches the same way."""
    assert not causal_lm.is_vision
    params = SamplingParams(max_new_tokens=10, batch_size=3)
    items = prompts(5, with_images=False)
    assert generate(causal_lm, items, params) == [generate(causal_lm, [item], params)[0] for item in items]


def test_samples_per_prompt_and_seeded_sampling(vlm):
    """n samples per prompt, in prompt order; the same seed gives the same samples."""
    params = SamplingParams(temperature=1.0, top_p=0.9, max_new_tokens=8, samples_per_prompt=3, seed=7)
    first = generate(vlm, prompts(3), params)
    assert [len(samples) for samples in first] == [3, 3, 3]
    assert generate(vlm, prompts(3), params) == first


def test_progress_callback_counts_prompts(vlm):
    """on_batch reports prompts done after every batch."""
    seen = []
    generate(vlm, prompts(5), SamplingParams(max_new_tokens=2, batch_size=2), on_batch=lambda d, t: seen.append((d, t)))
    assert seen[-1] == (5, 5) and len(seen) >= 3


def test_a_model_without_chat_template_is_prompted_as_it_was_trained(causal_lm):
    """Generation feeds the exact prompt ids training scored the answers after (``question`` + newline, no BOS)."""
    import copy

    from training.ddpo.data import PreferenceDataset, prompt_text
    from training.generation import Generator, _encode

    tokenizer = copy.deepcopy(causal_lm.tokenizer)
    tokenizer.chat_template = None
    plain = Generator(model=causal_lm.model, processor=tokenizer, is_vision=False)
    question = QUESTIONS[0]
    dataset = PreferenceDataset([{"id": "r", "version": 1, "question": question, "chosen": "a", "rejected": "b"}], tokenizer, gamma=1.0)
    trained = dataset[0]["prompt_inputs"]["input_ids"].tolist()
    generated = _encode(plain, [prompt_text(tokenizer, question, False)], [None])["input_ids"][0].tolist()
    assert generated == trained == tokenizer(f"{question}\n", add_special_tokens=False)["input_ids"]
    assert generate(plain, [{"question": question}], SamplingParams(max_new_tokens=3))[0][0] is not None

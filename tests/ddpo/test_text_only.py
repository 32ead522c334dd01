"""A text-only causal LM (AutoModelForCausalLM + AutoTokenizer) with LoRA and an SFT term; exact LoRA resume."""
import pytest
import torch
from safetensors.torch import load_file
from transformers import LlamaConfig, LlamaForCausalLM

from synthetic.tiny_vlm import train_tokenizer
from training.ddpo.config import DDPOConfig
from training.ddpo.trainer import train

from .conftest import CORPUS, color_records


@pytest.fixture(scope="module")
def tiny_lm(tmp_path_factory):
    path = tmp_path_factory.mktemp("tiny_lm")
    tok = train_tokenizer(CORPUS)
    torch.manual_seed(0)
    model = LlamaForCausalLM(LlamaConfig(
        vocab_size=len(tok), hidden_size=32, intermediate_size=64, num_hidden_layers=2, num_attention_heads=4,
        pad_token_id=tok.pad_token_id, bos_token_id=tok.bos_token_id, eos_token_id=tok.eos_token_id))
    model.save_pretrained(path)
    tok.save_pretrained(path)
    return path


def test_text_only_lora_sft_resume_is_exact(tiny_lm, tmp_path):
    """Records without images; LoRA + sft_weight; stop at step 2 and resume == straight run."""
    records = [dict(r, image=None) for r in color_records(8)]
    common = dict(model=str(tiny_lm), learning_rate=1e-3, beta=0.1, batch_size=2, max_steps=4, lora=True,
                  lora_r=4, sft_weight=0.5, reference_cache_dir=str(tmp_path / "cache"))
    seen = []
    straight = train(DDPOConfig(output_dir=str(tmp_path / "a"), **common), records,
                     on_metrics=lambda step, m: seen.append(m))
    assert seen[0]["loss"] > 0.6931472 + 1e-3          # DPO log 2 plus the SFT term
    stopped = train(DDPOConfig(output_dir=str(tmp_path / "b"), **common), records,
                    should_stop=lambda: True)
    assert stopped.name == "checkpoint-1" and (stopped / "adapter_model.safetensors").exists()
    resumed = train(DDPOConfig(output_dir=str(tmp_path / "b"), **common), records)
    a, b = load_file(straight / "model.safetensors"), load_file(resumed / "model.safetensors")
    assert a.keys() == b.keys() and all(torch.equal(a[k], b[k]) for k in a)

"""training.ddpo.registry: where a model may come from, and what it takes to be registered (no Django)."""
import json
import os
import shutil

import pytest
import torch
from transformers import AutoModelForImageTextToText, LlamaConfig, LlamaForCausalLM

from synthetic.tiny_vlm import train_tokenizer
from tests.training.conftest import CORPUS
from training.ddpo.registry import ModelRefused, inspect_model, resolve_folder, resolve_hub, resolve_name


@pytest.fixture
def root(tmp_path):
    (tmp_path / "models" / "ok").mkdir(parents=True)
    (tmp_path / "secret").mkdir()
    return tmp_path / "models"


def test_a_folder_inside_the_root_resolves(root):
    """Relative or absolute, a folder inside the models root is found, as its real path."""
    assert resolve_folder("ok", root=root) == root.resolve() / "ok"
    assert resolve_folder(str(root / "ok"), root=root) == root.resolve() / "ok"


@pytest.mark.parametrize("path", ["../secret", "ok/../../secret", "/etc", "", "missing", "ok/../.."])
def test_a_folder_outside_the_root_is_refused(root, path):
    """.., an absolute path elsewhere, nothing, a missing folder: refused, naming the field."""
    with pytest.raises(ModelRefused) as refused:
        resolve_folder(path, root=root, field="path")
    assert refused.value.field == "path" and str(refused.value)


def test_a_symlink_out_of_the_root_is_refused(root):
    """A link inside the root that leads outside it is followed, and refused."""
    os.symlink(root.parent / "secret", root / "link")
    with pytest.raises(ModelRefused, match="not inside"):
        resolve_folder("link", root=root)
    os.symlink(root / "ok", root / "inner")  # a link that stays inside is fine
    assert resolve_folder("inner", root=root) == root.resolve() / "ok"


def test_an_unknown_hub_id_is_refused_offline(tmp_path, monkeypatch):
    """A hub id missing from the cache, with downloads off, is refused with the reason; a malformed one too."""
    monkeypatch.setenv("HF_HUB_CACHE", str(tmp_path / "hub"))
    monkeypatch.setattr("huggingface_hub.constants.HF_HUB_CACHE", str(tmp_path / "hub"))
    with pytest.raises(ModelRefused, match="not in the local Hugging Face cache") as refused:
        resolve_hub("nobody/no-such-model", downloads=False)
    assert refused.value.field == "hub_id"
    with pytest.raises(ModelRefused, match="not a hub id"):
        resolve_hub("../../etc", downloads=False)
    with pytest.raises(ModelRefused, match="not inside"):  # not a hub id, so a folder: outside the root
        resolve_name("/etc", root=tmp_path, downloads=False, field="base")


def test_the_tiny_llava_facts(tiny_vlm):
    """Architecture, model type, parameter count (sum of numel), dtype; LLaVA shares the prompt prefix."""
    facts = inspect_model(tiny_vlm)
    model = AutoModelForImageTextToText.from_pretrained(tiny_vlm)
    assert facts.path == str(tiny_vlm)
    assert (facts.architecture, facts.model_type, facts.dtype) == ("LlavaForConditionalGeneration", "llava", "float32")
    assert facts.parameters == sum(p.numel() for p in model.parameters())
    assert facts.prefix_sharing is True and facts.adapter == ""


def test_a_tiny_qwen2_vl_does_not_share_prefixes(tmp_path):
    """M-RoPE (Qwen2-VL family): the concatenated path, so prefix_sharing is false."""
    from tests.families.tiny_qwen2_vl import build_tiny_qwen2_vl

    facts = inspect_model(build_tiny_qwen2_vl(tmp_path / "qwen", CORPUS))
    assert (facts.architecture, facts.model_type) == ("Qwen2VLForConditionalGeneration", "qwen2_vl")
    assert facts.prefix_sharing is False and facts.parameters > 0


def tiny_lm(path):
    """A text-only causal LM (Llama) with its tokenizer."""
    tokenizer = train_tokenizer(CORPUS)
    torch.manual_seed(0)
    LlamaForCausalLM(LlamaConfig(vocab_size=len(tokenizer), hidden_size=32, intermediate_size=64,
                                 num_hidden_layers=1, num_attention_heads=4)).save_pretrained(path)
    tokenizer.save_pretrained(path)
    return path


def test_a_text_only_model_is_refused_with_the_reason(tmp_path):
    with pytest.raises(ModelRefused, match="text-only model .llama, LlamaForCausalLM.: it cannot take an image"):
        inspect_model(tiny_lm(tmp_path / "lm"))


def test_no_processor_or_a_corrupt_config_is_refused(tiny_vlm, tmp_path):
    """Weights without their processor, a config.json that is not JSON, a folder that is no model."""
    bare = tmp_path / "bare"
    bare.mkdir()
    for name in ("config.json", "model.safetensors"):
        (bare / name).write_bytes((tiny_vlm / name).read_bytes())
    with pytest.raises(ModelRefused, match="processor could not be loaded"):
        inspect_model(bare)
    (bare / "config.json").write_text("{not json")
    with pytest.raises(ModelRefused, match="config.json could not be loaded"):
        inspect_model(bare)
    with pytest.raises(ModelRefused, match="no config.json"):
        inspect_model(tmp_path)


def save_lora_adapter(base, path):
    """A tiny LoRA adapter of ``base`` (non-zero B, so merging changes the weights), saved with peft."""
    from peft import LoraConfig, get_peft_model

    model = get_peft_model(AutoModelForImageTextToText.from_pretrained(base),
                           LoraConfig(r=2, lora_alpha=4, target_modules=["q_proj", "v_proj"], init_lora_weights=False))
    model.save_pretrained(path)
    return path


def test_a_lora_adapter_is_merged_into_its_base(tiny_vlm, tmp_path):
    """The adapter loads on its base, merges, and the merged folder is what later jobs load."""
    adapter = save_lora_adapter(tiny_vlm, tmp_path / "adapter")
    assert json.loads((adapter / "adapter_config.json").read_text())["base_model_name_or_path"] == str(tiny_vlm)
    facts = inspect_model(adapter, base=tiny_vlm, adapter_output=tmp_path / "merged")
    assert (facts.adapter, facts.adapter_base, facts.path) == (str(adapter), str(tiny_vlm), str(tmp_path / "merged"))
    merged = AutoModelForImageTextToText.from_pretrained(facts.path)
    original = AutoModelForImageTextToText.from_pretrained(tiny_vlm)
    assert facts.parameters == sum(p.numel() for p in original.parameters())
    q = "model.language_model.layers.0.self_attn.q_proj.weight"
    assert not torch.equal(merged.state_dict()[q], original.state_dict()[q])
    with pytest.raises(ModelRefused, match="needs its base"):
        inspect_model(adapter)


def test_a_hub_id_in_the_local_cache_resolves_to_its_snapshot(tiny_vlm, tmp_path, monkeypatch):
    """A model in the Hugging Face cache layout (models--owner--name/snapshots/<rev>, refs/main) is found offline."""
    from training.ddpo.registry import hub_cached

    cache = tmp_path / "hub"
    snapshot = cache / "models--owner--tiny-llava" / "snapshots" / "0123abcd"
    shutil.copytree(tiny_vlm, snapshot)
    (cache / "models--owner--tiny-llava" / "refs").mkdir()
    (cache / "models--owner--tiny-llava" / "refs" / "main").write_text("0123abcd")
    monkeypatch.setattr("huggingface_hub.constants.HF_HUB_CACHE", str(cache))
    assert hub_cached("owner/tiny-llava") and not hub_cached("owner/other")
    assert resolve_hub("owner/tiny-llava", downloads=False) == snapshot
    assert inspect_model(snapshot).architecture == "LlavaForConditionalGeneration"

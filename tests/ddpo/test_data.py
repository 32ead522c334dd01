"""The collator's exact tensors and the dataset's masks and weights."""
import torch
from transformers import AutoProcessor

from training.ddpo.data import PairCollator, PreferenceDataset

from .conftest import color_records


def item(index, prompt, chosen, rejected, cw, rw):
    return {"index": index, "key": f"{index}:1", "prompt_inputs": {"input_ids": torch.tensor(prompt)},
            "chosen_ids": chosen, "rejected_ids": rejected, "chosen_weights": cw, "rejected_weights": rw}


def test_collator_exact_tensors():
    """Prompts left-padded; chosen rows then rejected rows, right-padded; weights 0 on padding."""
    batch = PairCollator(pad_token_id=0)([
        item(0, [5, 6, 7], [10, 11], [13], [1.0, 5.0], [1.0]),
        item(1, [8, 9], [12], [14, 15, 16], [1.0], [1.0, 5.0, 1.0]),
    ])
    assert batch["prompt_input_ids"].tolist() == [[5, 6, 7], [0, 8, 9]]
    assert batch["prompt_attention_mask"].tolist() == [[1, 1, 1], [0, 1, 1]]
    assert batch["completion_input_ids"].tolist() == [[10, 11, 0], [12, 0, 0], [13, 0, 0], [14, 15, 16]]
    assert batch["completion_attention_mask"].tolist() == [[1, 1, 0], [1, 0, 0], [1, 0, 0], [1, 1, 1]]
    assert batch["completion_weights"].tolist() == [[1, 5, 0], [1, 0, 0], [1, 0, 0], [1, 5, 1]]
    assert batch["indices"].tolist() == [0, 1] and batch["keys"] == ["0:1", "1:1"]
    assert "ref_logps" not in batch


def test_dataset_renders_template_and_weights_changed_tokens(tiny_vlm):
    """Image tokens stay in the prompt; completion = answer + template end; gamma on the color only."""
    processor = AutoProcessor.from_pretrained(tiny_vlm)
    record = color_records(1)[0]
    ds = PreferenceDataset([record], processor, gamma=5.0)
    it = ds[0]
    tok = processor.tokenizer
    prompt_ids = it["prompt_inputs"]["input_ids"].tolist()
    assert prompt_ids.count(tok.convert_tokens_to_ids("<image>")) == 16
    assert it["prompt_inputs"]["pixel_values"].shape == (1, 3, 32, 32)
    assert tok.decode(it["chosen_ids"]) == record["chosen"] + "</s>\n"
    changed = [tok.decode([t]) for t, w in zip(it["chosen_ids"], it["chosen_weights"]) if w == 5.0]
    assert changed == [" red"]
    changed = [tok.decode([t]) for t, w in zip(it["rejected_ids"], it["rejected_weights"]) if w == 5.0]
    assert changed == [" " + record["rejected"].split()[3]]
    batch = PairCollator(tok.pad_token_id)([ds[0]])
    assert set(batch) >= {"pixel_values", "completion_weights"}

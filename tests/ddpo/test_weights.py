"""token_weights with a real byte-level BPE, and the diff fallback."""
import pytest

from synthetic.tiny_vlm import train_tokenizer
from training.ddpo.alignment import alignment_from_diff, alignment_spans
from training.ddpo.weights import token_weights

from .conftest import CORPUS


@pytest.fixture(scope="module")
def bpe():
    return train_tokenizer(CORPUS)


def test_hand_offsets():
    """gamma exactly on tokens overlapping a span; empty spans and empty tokens never count."""
    offsets = [(0, 5), (5, 8), (8, 10), (10, 14), (14, 21), (21, 22), (22, 22)]
    assert token_weights(offsets, [[11, 14]], 5.0) == [1, 1, 1, 5, 1, 1, 1]
    assert token_weights(offsets, [[13, 16]], 2.0) == [1, 1, 1, 2, 2, 1, 1]
    assert token_weights(offsets, [[10, 10]], 5.0) == [1.0] * 7
    assert token_weights(offsets, [], 5.0) == [1.0] * 7


def test_real_tokenizer_and_straddling_token(bpe):
    """A span ending inside a BPE token marks the whole token; its neighbours stay 1."""
    text = "There is a red circle."
    enc = bpe(text, add_special_tokens=False, return_offsets_mapping=True)
    tokens = [text[s:e] for s, e in enc["offset_mapping"]]
    assert tokens == ["There", " is", " a", " red", " circle", "."]
    # "red" plus the first two letters of "circle": straddles the " circle" token.
    assert token_weights(enc["offset_mapping"], [[11, 16]], 5.0) == [1, 1, 1, 5, 5, 1]
    # A span over the space only, before "red": the " red" token (10, 14) overlaps it.
    assert token_weights(enc["offset_mapping"], [[10, 11]], 3.0) == [1, 1, 1, 3, 1, 1]


def diff_spans(rejected, chosen):
    return alignment_spans(alignment_from_diff(rejected, chosen))


def test_fallback_spans_replacement_insertion_deletion():
    """The trainer's fallback for records without spans: insertions mark chosen only, deletions rejected only."""
    assert diff_spans("There is a red circle.", "There is a blue circle.") == ([[11, 14]], [[11, 15]])
    rejected_spans, chosen_spans = diff_spans("A circle.", "A big circle.")
    assert rejected_spans == [] and "".join("A big circle."[s:e] for s, e in chosen_spans).strip() == "big"
    rejected_spans, chosen_spans = diff_spans("A big circle.", "A circle.")
    assert chosen_spans == [] and "".join("A big circle."[s:e] for s, e in rejected_spans).strip() == "big"

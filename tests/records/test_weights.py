"""Record spans -> per-token weights on each side, with a real byte-level BPE tokenizer trained in the test."""
import pytest

from training.ddpo.alignment import alignment_spans, apply_segments
from training.ddpo.weights import token_weights

G = 5.0
TEXT = "There is a red circle."  # There| is| a| red| circle|.  offsets (0,5) (5,8) (8,10) (10,14) (14,21) (21,22)


def offsets(tokenizer, text):
    return [tuple(o) for o in tokenizer(text, add_special_tokens=False, return_offsets_mapping=True)["offset_mapping"]]


def side_weights(tokenizer, text, segments):
    """(rejected weights, chosen weights) of a record built from ``segments``, as the trainer computes them."""
    chosen, alignment = apply_segments(text, segments)
    rejected_spans, chosen_spans = alignment_spans(alignment)
    return (token_weights(offsets(tokenizer, text), rejected_spans, G),
            token_weights(offsets(tokenizer, chosen), chosen_spans, G))


def test_tokenizer_offsets(bpe_tokenizer):
    """The trained tokenizer cuts the sentence as the expectations below assume (leading space inside the token)."""
    assert offsets(bpe_tokenizer, TEXT) == [(0, 5), (5, 8), (8, 10), (10, 14), (14, 21), (21, 22)]
    assert offsets(bpe_tokenizer, "There is a blue circle.") == [(0, 5), (5, 8), (8, 10), (10, 15), (15, 22), (22, 23)]


def test_replacement_weights_both_sides(bpe_tokenizer):
    """"red" [11, 14) -> "blue": the token " red" (10, 14) straddles the span start and gets gamma; its neighbours touch only."""
    rejected, chosen = side_weights(bpe_tokenizer, TEXT, [{"start": 11, "end": 14, "category": "attribute", "replacement": "blue"}])
    assert rejected == [1.0, 1.0, 1.0, G, 1.0, 1.0]
    assert chosen == [1.0, 1.0, 1.0, G, 1.0, 1.0]


def test_insertion_weights_chosen_only(bpe_tokenizer):
    """Inserting " red" before " circle": chosen " red" gets gamma, no rejected token does."""
    rejected, chosen = side_weights(bpe_tokenizer, "There is a circle.", [{"start": 10, "end": 10, "category": "attribute", "replacement": " red"}])
    assert rejected == [1.0, 1.0, 1.0, 1.0, 1.0]
    assert chosen == [1.0, 1.0, 1.0, G, 1.0, 1.0]


def test_deletion_weights_rejected_only(bpe_tokenizer):
    """Deleting " red": rejected " red" gets gamma, no chosen token does."""
    rejected, chosen = side_weights(bpe_tokenizer, TEXT, [{"start": 10, "end": 14, "category": "attribute", "replacement": ""}])
    assert rejected == [1.0, 1.0, 1.0, G, 1.0, 1.0]
    assert chosen == [1.0, 1.0, 1.0, 1.0, 1.0]


def test_span_inside_a_longer_token(bpe_tokenizer):
    """A span covering part of one token (" reddish" (10, 18), span "red" [11, 14)) weights that whole token."""
    tokens = offsets(bpe_tokenizer, "There is a reddish circle.")
    assert tokens[3] == (10, 18)
    assert token_weights(tokens, [[11, 14]], G) == [1.0, 1.0, 1.0, G, 1.0, 1.0]


def test_span_over_several_tokens_and_adjacent_segments(bpe_tokenizer):
    """Two touching segments " red" + " circle" weight both tokens; "." after them stays 1."""
    rejected, chosen = side_weights(bpe_tokenizer, TEXT, [
        {"start": 10, "end": 14, "category": "attribute", "replacement": " blue"},
        {"start": 14, "end": 21, "category": "object", "replacement": " circle"},
    ])
    assert rejected == [1.0, 1.0, 1.0, G, G, 1.0]
    assert chosen == [1.0, 1.0, 1.0, G, G, 1.0]


def test_emoji_byte_tokens_all_weighted(bpe_tokenizer):
    """An astral emoji unknown to the vocabulary is 4 byte tokens sharing its one-code-point offset: all get gamma."""
    text = "a \U0001F534 circle"
    tokens = offsets(bpe_tokenizer, text)
    emoji = [i for i, o in enumerate(tokens) if o == (2, 3)]
    assert len(emoji) == 4
    weights = token_weights(tokens, [[2, 3]], G)
    assert [i for i, w in enumerate(weights) if w == G] == emoji


@pytest.mark.parametrize("gamma", [1.0, 1.1])
def test_gamma_passes_through(bpe_tokenizer, gamma):
    """Weights are exactly gamma (RLHF-V's later 1.1, or 1.0 = plain DPO) and 1.0."""
    assert token_weights(offsets(bpe_tokenizer, TEXT), [[11, 14]], gamma) == [1.0, 1.0, 1.0, gamma, 1.0, 1.0]

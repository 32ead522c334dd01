"""apply_segments, alignment_spans and the diff fallback of training.ddpo.alignment (pure, no database)."""
import pytest
from hypothesis import given, settings, strategies as st

from training.ddpo.alignment import (WHITESPACE, SegmentError, alignment_from_diff, alignment_spans, apply_segments,
                                     segment_errors)
from annotate.services import apply_segments as reexported

TEXT = "There is a red circle and a blue square."


def seg(start, end, replacement="", category="object"):
    return {"start": start, "end": end, "category": category, "replacement": replacement}


def rebuild(source, alignment, source_side, target, target_side):
    """``source`` with each aligned range replaced by the target's range: the other text, if the alignment is exact."""
    pieces, cursor = [], 0
    for item in alignment:
        start, end = item[source_side]
        pieces += [source[cursor:start], target[item[target_side][0]:item[target_side][1]]]
        cursor = end
    return "".join(pieces) + source[cursor:]


def assert_exact(rejected, chosen, alignment):
    assert rebuild(rejected, alignment, "rejected", chosen, "chosen") == chosen
    assert rebuild(chosen, alignment, "chosen", rejected, "rejected") == rejected


def test_services_reexport():
    """annotate.services.apply_segments is the same function."""
    assert reexported is apply_segments


def test_replacement():
    """A rewrite shifts nothing before it and maps the range on each side."""
    chosen, alignment = apply_segments(TEXT, [seg(11, 14, "green", "attribute")])
    assert chosen == "There is a green circle and a blue square."
    assert alignment == [{"rejected": [11, 14], "chosen": [11, 16], "category": "attribute"}]


def test_insertion():
    """start == end with a replacement inserts: empty on the rejected side."""
    chosen, alignment = apply_segments(TEXT, [seg(10, 10, " big")])
    assert chosen == "There is a big red circle and a blue square."
    assert alignment == [{"rejected": [10, 10], "chosen": [10, 14], "category": "object"}]
    assert alignment_spans(alignment) == ([], [[10, 14]])


def test_deletion():
    """An empty replacement deletes: empty on the chosen side."""
    chosen, alignment = apply_segments(TEXT, [seg(21, 39)])
    assert chosen == "There is a red circle."
    assert alignment == [{"rejected": [21, 39], "chosen": [21, 21], "category": "object"}]
    assert alignment_spans(alignment) == ([[21, 39]], [])


def test_several_segments_shift_later_ones_in_any_order():
    """Later chosen ranges move by the length change of earlier segments, whatever the input order."""
    segments = [seg(28, 32, "yellow", "attribute"), seg(11, 14, "", "attribute"), seg(5, 5, " also")]
    chosen, alignment = apply_segments(TEXT, segments)
    assert chosen == "There also is a circle and a yellow square."  # the deletion takes the space after "red"
    assert [item["chosen"] for item in alignment] == [[5, 10], [16, 16], [29, 35]]
    assert [item["rejected"] for item in alignment] == [[5, 5], [11, 15], [28, 32]]


def test_adjacent_segments():
    """Segments that touch ([a, b) then [b, c)), and an insertion at a rewrite's start, are allowed."""
    chosen, alignment = apply_segments(TEXT, [seg(11, 14, "two"), seg(14, 21, " squares"), seg(11, 11, "exactly ")])
    assert chosen == "There is a exactly two squares and a blue square."
    assert alignment == [
        {"rejected": [11, 11], "chosen": [11, 19], "category": "object"},
        {"rejected": [11, 14], "chosen": [19, 22], "category": "object"},
        {"rejected": [14, 21], "chosen": [22, 30], "category": "object"},
    ]


def test_segments_at_both_ends():
    """The first and last code points can be rewritten, and text inserted before and after everything."""
    chosen, alignment = apply_segments(TEXT, [seg(0, 5, "Here"), seg(39, 40, "!"), seg(40, 40, " Yes."), seg(0, 0, ">> ")])
    assert chosen == ">> Here is a red circle and a blue square! Yes."
    assert [item["rejected"] for item in alignment] == [[0, 0], [0, 5], [39, 40], [40, 40]]
    assert [item["chosen"] for item in alignment] == [[0, 3], [3, 7], [41, 42], [42, 47]]


def test_no_segments():
    """No segments: the text unchanged and an empty alignment."""
    assert apply_segments(TEXT, []) == (TEXT, [])


UNICODE_CASES = [
    # ZWJ family (5 code points) -> a cat.
    ("A \U0001F468\u200d\U0001F469\u200d\U0001F467 family", seg(2, 7, "\U0001F408"), "A \U0001F408 family", [2, 3]),
    # Second of two flags (regional indicator pairs).
    ("\U0001F1EB\U0001F1F7 and \U0001F1E9\U0001F1EA", seg(7, 9, "\U0001F1EE\U0001F1F9"), "\U0001F1EB\U0001F1F7 and \U0001F1EE\U0001F1F9", [7, 9]),
    # A decomposed e + combining acute before the span.
    ("cafe\u0301 noir", seg(6, 10, "cr\u00e8me"), "cafe\u0301 cr\u00e8me", [6, 11]),
    # A combining mark on its own: deleting it only.
    ("cafe\u0301 noir", seg(4, 5), "cafe noir", [4, 4]),
    # CJK, no spaces.
    ("\u4e00\u4e2a\u7ea2\u8272\u7684\u5706", seg(2, 3, "\u84dd"), "\u4e00\u4e2a\u84dd\u8272\u7684\u5706", [2, 3]),
    # Arabic (right to left): "red circle" -> "blue circle".
    ("\u062f\u0627\u0626\u0631\u0629 \u062d\u0645\u0631\u0627\u0621", seg(6, 11, "\u0632\u0631\u0642\u0627\u0621"),
     "\u062f\u0627\u0626\u0631\u0629 \u0632\u0631\u0642\u0627\u0621", [6, 11]),
    # Hebrew with a left-to-right number inside: "3 circles" -> "4 circles".
    ("\u05d9\u05e9 3 \u05e2\u05d9\u05d2\u05d5\u05dc\u05d9\u05dd", seg(3, 4, "4"), "\u05d9\u05e9 4 \u05e2\u05d9\u05d2\u05d5\u05dc\u05d9\u05dd", [3, 4]),
]


@pytest.mark.parametrize("text, segment, expected, chosen_range", UNICODE_CASES)
def test_unicode_code_points(text, segment, expected, chosen_range):
    """Offsets are code points: astral emoji, ZWJ sequences, flags, combining marks, CJK and RTL round-trip."""
    chosen, alignment = apply_segments(text, [segment])
    assert chosen == expected
    assert alignment[0]["rejected"] == [segment["start"], segment["end"]]
    assert alignment[0]["chosen"] == chosen_range
    assert chosen[chosen_range[0]:chosen_range[1]] == segment["replacement"]
    assert_exact(text, chosen, alignment)


@pytest.mark.parametrize("segments, path, message", [
    ([seg(11, 14, "a"), seg(13, 20, "b")], "segments[1].start", "[13, 20) overlaps segments[0] [11, 14)."),
    ([seg(5, 20, "a"), seg(10, 10, "b")], "segments[1].start", "[10, 10) overlaps segments[0] [5, 20)."),
    ([seg(10, 10, "a"), seg(10, 10, "b")], "segments[1].start", "overlaps segments[0]"),
    ([seg(35, 41, "x")], "segments[0].end", "Offset 41 is out of range: the text has 40 code points."),
    ([seg(-1, 2, "x")], "segments[0].start", "out of range"),
    ([seg(5, 3, "x")], "segments[0].end", "End 3 is before start 5."),
    ([seg(4, 4, "")], "segments[0].replacement", "An insertion (start == end) needs text to insert."),
    ([{"start": "1", "end": 2, "replacement": "x"}], "segments[0].start", "Must be an integer (a code-point offset), got '1'"),
    ([{"start": True, "end": 2, "replacement": "x"}], "segments[0].start", "Must be an integer"),
    ([{"end": 2}], "segments[0].start", "This field is required."),
    ([seg(1, 2, None)], "segments[0].replacement", "Must be a string."),
    ([seg(1, 2, "x", category=3)], "segments[0].category", "Must be a string."),
    (["1-2"], "segments[0]", "Expected an object with start, end, category, replacement."),
])
def test_bad_segments_raise_a_segment_error(segments, path, message):
    """Overlapping, out-of-range, empty or malformed segments raise a ValueError naming the segment and field."""
    with pytest.raises(SegmentError) as raised:
        apply_segments(TEXT, segments)
    assert isinstance(raised.value, ValueError)
    assert raised.value.path == path and message in raised.value.message
    assert str(raised.value) == f"{path}: {raised.value.message}"


def test_segment_errors_lists_every_broken_rule():
    """Every segment's problems in input order (several per segment); overlaps only once each segment is fine."""
    broken = segment_errors(TEXT, [seg(5, 3, "x"), {"start": 1.5}, seg(4, 4, "", category=None), "x"])
    assert [(error.index, error.field) for error in broken] == [
        (0, "end"), (1, "start"), (1, "end"), (2, "category"), (2, "replacement"), (3, None),
    ]
    overlapping = [seg(20, 25, "a"), seg(0, 12, "b"), seg(22, 30, "c"), seg(10, 15, "d"), seg(30, 30, "e")]
    assert [error.path for error in segment_errors(TEXT, overlapping)] == ["segments[3].start", "segments[2].start"]
    assert segment_errors(TEXT, [seg(0, 5, "a"), seg(5, 5, "b"), seg(5, 9, "c")]) == []


# Text mixing ASCII, astral emoji, ZWJ, combining marks, CJK and right-to-left letters.
ALPHABET = st.sampled_from(list("ab c.") + ["\U0001F534", "\u200d", "\u0301", "\u4e00", "\u05d0", "\u0627", "\U0001F1EB"])
TEXTS = st.text(alphabet=ALPHABET, max_size=40)


@st.composite
def text_and_segments(draw):
    text = draw(TEXTS)
    cuts = sorted(draw(st.lists(st.integers(0, len(text)), max_size=10)))
    segments, last_insertion = [], None
    for start, end in zip(cuts[::2], cuts[1::2]):
        replacement = draw(TEXTS)
        if start == end and (not replacement or last_insertion == start):
            continue
        last_insertion = start if start == end else None
        segments.append(seg(start, end, replacement, draw(st.sampled_from(["object", "number"]))))
    return text, draw(st.permutations(segments))


@settings(max_examples=300, deadline=None)
@given(text_and_segments())
def test_alignment_rebuilds_both_texts(case):
    """Property: every aligned pair holds the original and its replacement, and the alignment rebuilds both texts."""
    text, segments = case
    chosen, alignment = apply_segments(text, segments)
    assert_exact(text, chosen, alignment)
    by_start = sorted(segments, key=lambda s: (s["start"], s["end"]))
    for item, segment in zip(alignment, by_start):
        start, end = item["rejected"]
        if segment["replacement"] or segment["start"] == segment["end"]:
            assert [start, end] == [segment["start"], segment["end"]]
        else:  # a deletion may take one neighbouring space with it (deletion_bounds)
            assert (start, end) in {(segment["start"], segment["end"]), (segment["start"] - 1, segment["end"]),
                                    (segment["start"], segment["end"] + 1)}
            assert all(text[i] in WHITESPACE for i in range(start, end) if not segment["start"] <= i < segment["end"])
        assert chosen[item["chosen"][0]:item["chosen"][1]] == segment["replacement"]
    rejected_spans, chosen_spans = alignment_spans(alignment)
    assert all(e > s for s, e in rejected_spans + chosen_spans)


@settings(max_examples=300, deadline=None)
@given(TEXTS, TEXTS)
def test_char_diff_rebuilds_both_texts(rejected, chosen):
    """Property: the default diff fallback yields exact code-point ranges that rebuild both texts."""
    alignment = alignment_from_diff(rejected, chosen)
    assert_exact(rejected, chosen, alignment)
    for item in alignment:
        assert rejected[slice(*item["rejected"])] != chosen[slice(*item["chosen"])]


def test_char_diff_finds_words_insertions_and_deletions():
    """Word-level ranges, pure insertions and deletions kept (they are weighted on their side)."""
    chosen = "There is a green circle and a blue big square"
    alignment = alignment_from_diff(TEXT, chosen)
    assert [(TEXT[slice(*a["rejected"])], chosen[slice(*a["chosen"])]) for a in alignment] == [
        ("red", "green"), ("", "big "), (".", ""),
    ]
    assert {a["category"] for a in alignment} == {"diff"}


def test_char_diff_cuts_cjk_by_character():
    """Scripts without spaces are compared character by character."""
    alignment = alignment_from_diff("\u4e00\u4e2a\u7ea2\u8272\u7684\u5706", "\u4e00\u4e2a\u84dd\u8272\u7684\u5706")
    assert alignment == [{"rejected": [2, 3], "chosen": [2, 3], "category": "diff"}]


def test_token_diff_reproduces_rlhfv(bpe_tokenizer):
    """mode="token": token-id difflib, matches under 3 tokens dropped, pure insertions/deletions not marked."""
    rejected, chosen = "There is a red circle and a blue square.", "There is a blue circle and a blue square."
    assert alignment_from_diff(rejected, chosen, mode="token", tokenizer=bpe_tokenizer) == [
        {"rejected": [10, 14], "chosen": [10, 15], "category": "diff"},  # " red" -> " blue" (token offsets)
    ]
    # Matches of 1 and 2 tokens ("A", " circle.") are dropped: the whole answer counts as changed.
    assert alignment_from_diff("A red circle.", "A blue circle.", mode="token", tokenizer=bpe_tokenizer) == [
        {"rejected": [0, 13], "chosen": [0, 14], "category": "diff"},
    ]
    # A pure insertion marks nothing, where the default mode marks the inserted words.
    inserted = "There is a red circle and a big blue square."
    assert alignment_from_diff(rejected, inserted, mode="token", tokenizer=bpe_tokenizer) == []
    assert alignment_from_diff(rejected, inserted) == [{"rejected": [28, 28], "chosen": [28, 32], "category": "diff"}]


def test_diff_mode_errors(bpe_tokenizer):
    """An unknown mode, or token mode without a tokenizer, raise ValueError."""
    with pytest.raises(ValueError, match="mode must be"):
        alignment_from_diff("a", "b", mode="bytes")
    with pytest.raises(ValueError, match="needs a fast tokenizer"):
        alignment_from_diff("a", "b", mode="token")


@pytest.mark.parametrize(("text", "span", "chosen", "removed"), [
    ("It is a circle. It is red.", (16, 26), "It is a circle.", [15, 26]),  # the space before a last sentence
    ("a big red circle", (6, 9), "a big circle", [6, 10]),  # the space after a word
    ("Red, big circle", (0, 3), ", big circle", [0, 3]),  # no space to take
    ("a big, red circle", (2, 5), "a, red circle", [1, 5]),  # the space before punctuation
    ("red circle", (0, 3), "circle", [0, 4]),  # at the start
    ("a big  red", (2, 5), "a  red", [2, 6]),  # one space only: a double space the answer had stays
])
def test_a_deletion_takes_the_space_it_would_leave_stray(text, span, chosen, removed):
    result, alignment = apply_segments(text, [seg(*span, "", "object")])
    assert result == chosen
    assert alignment[0]["rejected"] == removed and alignment[0]["chosen"] == [removed[0], removed[0]]


def test_a_deletion_never_takes_a_space_another_segment_holds():
    """An insertion right after the space only touches the widened deletion; a replacement of that space blocks it."""
    chosen, alignment = apply_segments("a big red circle", [seg(2, 5, "", "object"), seg(6, 6, "tiny ", "object")])
    assert [item["rejected"] for item in alignment] == [[2, 6], [6, 6]]
    assert chosen == "a tiny red circle"
    chosen, alignment = apply_segments("a big red circle", [seg(2, 5, "", "object"), seg(5, 6, "_", "object")])
    assert [item["rejected"] for item in alignment] == [[2, 5], [5, 6]] and chosen == "a _red circle"
    chosen, alignment = apply_segments("a b", [seg(0, 1, "", "object"), seg(2, 3, "", "object")])
    assert chosen == "" and [item["rejected"] for item in alignment] == [[0, 2], [2, 3]]

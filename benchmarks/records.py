"""Records/s of one worker process turning annotations into dense training pairs.

Per record: ``apply_segments`` (chosen text + alignment), ``alignment_spans``,
both sides tokenised with a fast byte-level BPE tokenizer (batched, with
offsets) and ``token_weights`` on each side, i.e. everything a record and its
weighted tokens need, without the database. Answers are ~65 words with 3
segments (RLHF-V's averages): a rewrite, a deletion and an insertion.
The process is pinned to one core and the tokenizer to one thread.

Baseline, in the same run on the same annotations: the way RLHF-V's code
finds the changed tokens, i.e. each side tokenised on its own and a difflib
diff of the two token-id sequences (which also marks tokens that merely
re-tokenise around an edit).

    python benchmarks/records.py [--records 20000] [--batch 256]

The last line is the speed-up over the baseline (records per CPU-second).
"""
import argparse
import difflib
import os
import random
import sys
import time
from pathlib import Path

os.environ.setdefault("RAYON_NUM_THREADS", "1")
os.environ.setdefault("TOKENIZERS_PARALLELISM", "false")
sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from training.ddpo.alignment import alignment_spans, apply_segments  # noqa: E402
from synthetic.tiny_vlm import train_tokenizer  # noqa: E402
from training.ddpo.weights import token_weights  # noqa: E402

COLORS = ["red", "blue", "green", "yellow", "purple", "orange", "gray", "pink"]
SHAPES = ["circle", "square", "triangle", "star", "hexagon", "ellipse"]
PLACES = ["to the left of", "to the right of", "above", "below", "next to", "inside"]
WORDS = 65


def sentence(rng):
    return (f"There is a {rng.choice(COLORS)} {rng.choice(SHAPES)} {rng.choice(PLACES)} "
            f"the {rng.choice(['small', 'large'])} {rng.choice(COLORS)} {rng.choice(SHAPES)}.")


def annotation(rng):
    """An answer of ~65 words and 3 segments: rewrite a colour, delete a word, insert two words."""
    words = []
    while len(words) < WORDS:
        words += sentence(rng).split(" ")
    text = " ".join(words)
    starts, position = [], 0
    for word in words:
        starts.append(position)
        position += len(word) + 1
    first, second, third = sorted(rng.sample(range(1, len(words) - 1), 3))
    segments = [
        {"start": starts[first], "end": starts[first] + len(words[first]), "category": "attribute",
         "replacement": rng.choice(COLORS)},
        {"start": starts[second] - 1, "end": starts[second] + len(words[second]), "category": "object", "replacement": ""},
        {"start": starts[third], "end": starts[third], "category": "number", "replacement": "two large "},
    ]
    return text, segments


def build_batch(tokenizer, batch, gamma):
    """Records (rejected, chosen, alignment, spans) and their per-token weights for one batch of annotations."""
    records = []
    for text, segments in batch:
        chosen, alignment = apply_segments(text, segments)
        rejected_spans, chosen_spans = alignment_spans(alignment)
        records.append({"rejected": text, "chosen": chosen, "alignment": alignment,
                        "rejected_spans": rejected_spans, "chosen_spans": chosen_spans})
    for side in ("rejected", "chosen"):
        encodings = tokenizer.backend_tokenizer.encode_batch([r[side] for r in records], add_special_tokens=False)
        for record, encoding in zip(records, encodings):
            record[f"{side}_ids"] = encoding.ids
            record[f"{side}_weights"] = token_weights(encoding.offsets, record[f"{side}_spans"], gamma)
    return records


def build_by_token_diff(tokenizer, batch, gamma):
    """The baseline: each side tokenised alone, changed tokens found by diffing the token ids."""
    records = []
    for text, segments in batch:
        chosen, _ = apply_segments(text, segments)
        ids = {side: tokenizer(value, add_special_tokens=False)["input_ids"] for side, value in (("rejected", text), ("chosen", chosen))}
        weights = {side: [1.0] * len(side_ids) for side, side_ids in ids.items()}
        matcher = difflib.SequenceMatcher(None, ids["rejected"], ids["chosen"], autojunk=False)
        for tag, i1, i2, j1, j2 in matcher.get_opcodes():
            if tag != "equal":
                weights["rejected"][i1:i2] = [gamma] * (i2 - i1)
                weights["chosen"][j1:j2] = [gamma] * (j2 - j1)
        records.append({"rejected": text, "chosen": chosen, **{f"{side}_ids": ids[side] for side in ids},
                        **{f"{side}_weights": weights[side] for side in weights}})
    return records


def measure(build, tokenizer, annotations, batch, gamma):
    """(wall seconds, CPU seconds, tokens, gamma-weighted tokens) of building every record with ``build``."""
    build(tokenizer, annotations[:batch], gamma)  # warm-up
    start, cpu_start = time.perf_counter(), time.process_time()
    tokens = changed = 0
    for index in range(0, len(annotations), batch):
        for record in build(tokenizer, annotations[index:index + batch], gamma):
            tokens += len(record["rejected_ids"]) + len(record["chosen_ids"])
            changed += sum(w != 1.0 for w in record["rejected_weights"] + record["chosen_weights"])
    return time.perf_counter() - start, time.process_time() - cpu_start, tokens, changed


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--records", type=int, default=20000)
    parser.add_argument("--batch", type=int, default=256)
    parser.add_argument("--vocab", type=int, default=2000, help="BPE vocabulary size of the trained tokenizer")
    parser.add_argument("--gamma", type=float, default=5.0)
    args = parser.parse_args()
    if hasattr(os, "sched_setaffinity"):
        os.sched_setaffinity(0, {min(os.sched_getaffinity(0))})

    rng = random.Random(0)
    annotations = [annotation(rng) for _ in range(args.records)]
    tokenizer = train_tokenizer([text for text, _ in annotations[:2000]], vocab_size=args.vocab)
    elapsed, cpu, tokens, changed = measure(build_batch, tokenizer, annotations, args.batch, args.gamma)
    _, naive_cpu, _, naive_changed = measure(build_by_token_diff, tokenizer, annotations, args.batch, args.gamma)

    words = sum(len(text.split()) for text, _ in annotations) / len(annotations)
    print(f"{len(annotations)} records, {words:.1f} words and 3 segments each, batch {args.batch}, "
          f"BPE vocab {len(tokenizer)}, {tokens / len(annotations) / 2:.1f} tokens per side, "
          f"{changed / len(annotations):.1f} gamma tokens per record (token diff: {naive_changed / len(annotations):.1f})")
    print(f"{elapsed:.2f} s wall, {cpu:.2f} s CPU on one core: {len(annotations) / elapsed:.0f} records/s by wall clock")
    print(f"ours: {len(annotations) / cpu:.0f} records/s per worker process (per CPU-second of one core)")
    print(f"baseline, token diff: {len(annotations) / naive_cpu:.0f} records/s per CPU-second")
    print(f"speed-up over the token-diff baseline: {naive_cpu / cpu:.2f}x")

if __name__ == "__main__":
    main()

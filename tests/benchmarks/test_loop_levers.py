"""benchmarks/loop.py's levers: per-round schedules and dropping the most similar pairs."""
import pytest

from benchmarks.loop import filter_similar, pair_similarity, parse_schedule, round_overrides


def pair(chosen, rejected, chosen_spans, rejected_spans, name=""):
    return {"id": name, "chosen": chosen, "rejected": rejected,
            "chosen_spans": chosen_spans, "rejected_spans": rejected_spans}


def test_pair_similarity_is_the_unchanged_share_of_both_sides():
    # "a red cube." -> "a blue cube.": 3 of 11 rejected and 4 of 12 chosen characters changed
    assert pair_similarity(pair("a blue cube.", "a red cube.", [[2, 6]], [[2, 5]])) == 1 - 7 / 23
    assert pair_similarity(pair("", "a red cube.", [], [[0, 11]])) == 0.0     # everything deleted
    assert pair_similarity(pair("", "", [], [])) == 1.0


def test_filter_similar_drops_the_most_alike_pairs_and_keeps_order():
    records = [pair("x" * 10, "x" * 10, [[0, changed]], [[0, changed]], name=str(changed))
               for changed in (5, 1, 9, 2, 7)]                     # similarity falls as `changed` grows
    assert [r["id"] for r in filter_similar(records, 0.4)] == ["5", "9", "7"]   # 1 and 2 changed: most alike
    assert filter_similar(records, 0.0) == records
    assert [r["id"] for r in filter_similar(records, 0.3)] == ["5", "9", "2", "7"]  # int(1.5) = 1 dropped
    ties = [pair("ab", "ab", [], [], name=str(i)) for i in range(3)]
    assert [r["id"] for r in filter_similar(ties, 0.5)] == ["0", "1"]             # ties: the later goes


def test_schedules_parse_one_value_per_round():
    assert parse_schedule("5,3,1", 3, "--gamma-schedule") == [5.0, 3.0, 1.0]
    assert parse_schedule(None, 3, "--gamma-schedule") is None
    with pytest.raises(ValueError, match="one value per round \\(3\\), got 2"):
        parse_schedule("5,3", 3, "--gamma-schedule")
    with pytest.raises(ValueError, match="--beta-schedule: comma-separated numbers"):
        parse_schedule("0.5,x,0.1", 3, "--beta-schedule")


def test_schedules_apply_per_round_and_arm():
    gammas, betas = [5.0, 3.0, 1.0], [0.5, 0.3, 0.1]
    assert round_overrides("ddpo", 2, gammas, betas) == {"gamma": 3.0, "beta": 0.3}
    assert round_overrides("dpo", 3, gammas, betas) == {"beta": 0.1}            # DPO is gamma 1 by definition
    assert round_overrides("sft", 1, gammas, betas) == {}
    assert round_overrides("ddpo", 1, None, None) == {}

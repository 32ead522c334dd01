"""SamplingParams: validated, named errors."""
import pytest

from training.generation import SamplingParams


@pytest.mark.parametrize("field,value", [("temperature", -1), ("top_p", 0), ("top_p", 1.5),
                                         ("max_new_tokens", 0), ("samples_per_prompt", 0), ("batch_size", 0)])
def test_invalid_values_name_the_field(field, value):
    """Each bad value raises ValueError naming its field."""
    with pytest.raises(ValueError, match=field):
        SamplingParams(**{field: value})


def test_unknown_keys_rejected():
    """from_dict refuses keys it does not know."""
    with pytest.raises(ValueError, match="unknown sampling keys"):
        SamplingParams.from_dict({"temprature": 1})


@pytest.mark.parametrize("values,field", [({"samples_per_prompt": 2}, "samples_per_prompt"), ({"top_p": 0.5}, "top_p")])
def test_greedy_decoding_refuses_what_only_sampling_does(values, field):
    """At temperature 0 several samples or a top_p would fail inside generate(); they are refused up front,
    naming the field, and allowed with a temperature."""
    with pytest.raises(ValueError, match=f"{field}: .*needs temperature > 0"):
        SamplingParams(**values)
    SamplingParams(temperature=0.7, **values)

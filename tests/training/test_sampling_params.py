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

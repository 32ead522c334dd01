"""Fixtures of the record tests: a byte-level BPE tokenizer trained here, and annotations with segments."""
import pytest

from annotate.models import Annotation, Segment
from tests.factories import make_project, make_response, make_user

RED_TO_GREEN = {"start": 11, "end": 14, "category": "attribute", "replacement": "green"}
CORPUS = ["There is a red circle and a blue square.", "a reddish square", "There are two circles."]


@pytest.fixture(autouse=True)
def _fast_passwords(settings):
    """Every annotation makes a user; hash their passwords cheaply."""
    settings.PASSWORD_HASHERS = ["django.contrib.auth.hashers.MD5PasswordHasher"]


@pytest.fixture(scope="session")
def bpe_tokenizer():
    """A fast byte-level BPE tokenizer trained on a few sentences (offsets in code points)."""
    from tokenizers import Tokenizer, decoders, models, pre_tokenizers, trainers
    from transformers import PreTrainedTokenizerFast

    tokenizer = Tokenizer(models.BPE())
    tokenizer.pre_tokenizer = pre_tokenizers.ByteLevel(add_prefix_space=False)
    tokenizer.decoder = decoders.ByteLevel()
    trainer = trainers.BpeTrainer(
        vocab_size=300, special_tokens=["<pad>"], initial_alphabet=pre_tokenizers.ByteLevel.alphabet(),
        show_progress=False,
    )
    tokenizer.train_from_iterator(CORPUS * 10, trainer=trainer)
    return PreTrainedTokenizerFast(tokenizer_object=tokenizer, pad_token="<pad>")


def make_annotation(*, project=None, text="There is a red circle and a blue square.", segments=(), status="submitted", **fields):
    """An annotation of a fresh response of ``project`` with ``segments`` (dicts of Segment fields)."""
    project = project or make_project()
    response = make_response(project, text=text)
    annotator = make_user(role="annotator", project=project)
    annotation = Annotation.objects.create(task=response.tasks.get(), annotator=annotator, status=status, **fields)
    Segment.objects.bulk_create(Segment(annotation=annotation, **segment) for segment in segments)
    return annotation

import pytest

from annotate.models import PreferenceRecord
from tests.factories import make_image, make_project
from training.models import ModelCheckpoint

COLOURS = ["red", "blue", "green", "yellow"]
SHAPES = ["circle", "square", "triangle"]
CORPUS = [f"There is a {c} {s} at the top left. Describe the image in detail." for c in COLOURS for s in SHAPES]


@pytest.fixture(scope="session")
def tiny_vlm(tmp_path_factory):
    """A random tiny LLaVA (CLIP + Llama) saved to disk, reloadable offline."""
    from synthetic.tiny_vlm import build_tiny_vlm

    return build_tiny_vlm(tmp_path_factory.mktemp("tiny-vlm"), CORPUS * 10)


@pytest.fixture(scope="session")
def other_tiny_vlm(tmp_path_factory):
    """Another random tiny LLaVA (other weights, same shape): a second checkpoint that answers differently."""
    from synthetic.tiny_vlm import build_tiny_vlm

    return build_tiny_vlm(tmp_path_factory.mktemp("other-tiny-vlm"), CORPUS * 10, seed=1)


def make_record(project, index=0):
    """A dense preference pair whose colour word was corrected."""
    right, wrong = COLOURS[index % 4], COLOURS[(index + 1) % 4]
    shape = SHAPES[index % 3]
    prefix = "There is a "
    return PreferenceRecord.objects.create(
        project=project, image=make_image(), question="Describe the image in detail.",
        chosen=f"{prefix}{right} {shape}.", rejected=f"{prefix}{wrong} {shape}.",
        alignment=[{"rejected": [len(prefix), len(prefix) + len(wrong)],
                    "chosen": [len(prefix), len(prefix) + len(right)], "category": "attribute"}],
        chosen_spans=[[len(prefix), len(prefix) + len(right)]],
        rejected_spans=[[len(prefix), len(prefix) + len(wrong)]],
    )


@pytest.fixture
def project_with_model(db, tiny_vlm):
    """A project whose active checkpoint is the tiny VLM, with six records."""
    project = make_project(overlap=2, gamma=5.0, beta=0.5)
    checkpoint = ModelCheckpoint.objects.create(project=project, name="tiny", path=str(tiny_vlm), is_active=True)
    for index in range(6):
        make_record(project, index)
    return project, checkpoint

"""Which stored images a user may load: those of the projects they work on."""
from django.db.models import Exists, OuterRef
from django.http import Http404

from annotate.models import ImageAsset, PreferenceRecord, Prompt
from annotate.roles import project_ids_with_role
from config.fields import unstorable_text


def image_get_visible(*, user, name) -> ImageAsset:
    """The image stored under ``name`` if a prompt or record of one of the user's projects shows it; else 404.

    Other files in the same storage (export files) are never images, so
    they are not served this way; exports have their own managers-only download.
    """
    if unstorable_text(name):  # no stored name holds one; the database would refuse the query
        raise Http404("No such image")
    images = ImageAsset.objects.filter(file=name)
    projects = project_ids_with_role(user=user)
    if projects is not None:
        in_prompt = Prompt.objects.filter(image=OuterRef("pk"), project_id__in=projects)
        in_record = PreferenceRecord.objects.filter(image=OuterRef("pk"), project_id__in=projects)
        images = images.filter(Exists(in_prompt) | Exists(in_record))
    image = images.first()
    if image is None:
        raise Http404("No such image")
    return image


def image_list_of_project(*, project):
    """The images the project's prompts or records show, newest first."""
    in_prompt = Prompt.objects.filter(image=OuterRef("pk"), project=project)
    in_record = PreferenceRecord.objects.filter(image=OuterRef("pk"), project=project)
    return ImageAsset.objects.filter(Exists(in_prompt) | Exists(in_record)).order_by("-created_at", "-id")

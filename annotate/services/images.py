"""Images from outside (a dataset file's rows, a playground upload): checked to be real, sane images, stored once.

An image is decoded by Pillow before anything is stored; a file whose header
promises more than ``MAX_IMAGE_PIXELS`` pixels is refused before its pixels
are decoded (a small file that decodes to gigabytes). Stored images are
deduplicated by sha256.
"""
import hashlib
import io
import warnings
from typing import NamedTuple

from django.core.files.base import ContentFile
from PIL import Image

from annotate.models import ImageAsset
from config.errors import ApplicationError

MAX_IMAGE_PIXELS = 40_000_000  # decompression bombs: a small file that decodes to gigabytes
MAX_IMAGE_BYTES = 20 * 1024 * 1024  # an upload; a dataset file's images are bounded by its own limits


class CheckedImage(NamedTuple):
    data: bytes
    sha256: str
    width: int
    height: int
    kind: str  # the file extension: png, jpeg, ...


def image_check(data, *, where, field, max_pixels=MAX_IMAGE_PIXELS) -> CheckedImage:
    """``data`` as a ``CheckedImage`` if it is a real image of at most ``max_pixels`` pixels, else an
    ``ApplicationError`` naming ``field`` whose message starts with ``where`` (e.g. "Row 3")."""
    def bad(message):
        return ApplicationError(f"{where}: {message}", fields={field: [f"{where}: {message}"]})

    if not data:
        raise bad("the image is empty.")
    too_large = bad(f"the image has more than the limit of {max_pixels} pixels.")
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("error", Image.DecompressionBombWarning)
            with Image.open(io.BytesIO(data)) as image:
                (width, height), kind = image.size, image.format
                if width * height > max_pixels:
                    raise too_large
                image.verify()
    except ApplicationError:
        raise
    except (Image.DecompressionBombError, Image.DecompressionBombWarning):
        raise too_large
    except Exception as error:  # Pillow's decoders raise many kinds (NotImplementedError for odd DDS flags...)
        raise bad(f"`image` bytes are not an image ({type(error).__name__}: {error}).")
    return CheckedImage(data, hashlib.sha256(data).hexdigest(), width, height, (kind or "bin").lower())


def image_upload_check(file, *, field) -> CheckedImage:
    """An uploaded file (Django's ``UploadedFile``) as a ``CheckedImage``; one over ``MAX_IMAGE_BYTES`` is
    refused before it is read."""
    if file.size > MAX_IMAGE_BYTES:
        message = f"The file has {file.size} bytes; the limit is {MAX_IMAGE_BYTES}."
        raise ApplicationError(message, fields={field: [message]})
    return image_check(file.read(), where="The uploaded file", field=field)


def images_store(images, *, saved) -> dict[str, int]:
    """sha256 -> ImageAsset id of the ``CheckedImage``s, storing the new ones; the names of the files written go
    to ``saved`` (a caller whose transaction fails removes them)."""
    images = {image.sha256: image for image in images}
    ids = dict(ImageAsset.objects.filter(sha256__in=images).values_list("sha256", "id"))
    for sha, image in images.items():
        if sha not in ids:
            data = image.data  # read once: an upload's images are read back from their archive one at a time
            asset = ImageAsset(sha256=sha, width=image.width, height=image.height, size_bytes=len(data))
            asset.file.save(f"{sha[:16]}.{image.kind}", ContentFile(data), save=False)
            saved.append(asset.file.name)
            asset.save()
            ids[sha] = asset.pk
    return ids

from django.contrib.auth.decorators import login_required
from django.core.files.storage import default_storage
from django.http import FileResponse, Http404
from django.shortcuts import render
from django.utils._os import safe_join


@login_required
def home(request):
    return render(request, "frontend/home.html")


@login_required
def media(request, name):
    """Uploaded images, for signed-in users only (whitenoise serves static files, not uploads)."""
    try:
        full_path = safe_join(default_storage.location, name)
    except Exception:
        raise Http404("No such file")
    if not default_storage.exists(name):
        raise Http404("No such file")
    return FileResponse(open(full_path, "rb"))

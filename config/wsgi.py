"""The WSGI application the web server (granian) runs.

Granian starts each request's environ from a copy of the server process's environment, as CGI did, so
``request.META`` would carry ``SECRET_KEY``, ``DATABASE_URL`` and every other setting given as a variable, for
any error report or log that prints it. ``application`` takes those out before Django sees the request; the
CGI and HTTP variables the server sets for the request stay.
"""
import os

from django.core.wsgi import get_wsgi_application

os.environ.setdefault("DJANGO_SETTINGS_MODULE", "config.settings")

# The variables a WSGI server sets per request (PEP 3333, CGI/1.1), which a process variable of the same name
# would not stand for.
_REQUEST_VARIABLES = ("HTTP_", "REQUEST_", "SERVER_", "REMOTE_", "CONTENT_", "PATH_", "QUERY_", "SCRIPT_",
                      "GATEWAY_", "RAW_", "wsgi.")

_django = get_wsgi_application()


def application(environ, start_response):
    for name in environ.keys() & os.environ.keys():
        if not name.startswith(_REQUEST_VARIABLES):
            del environ[name]
    return _django(environ, start_response)

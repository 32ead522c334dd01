"""CSV downloads of the API's tables: a file to open in a spreadsheet, safe to open there."""
import csv
import io

from django.http import HttpResponse
from django.utils.http import content_disposition_header
from django.utils.text import slugify
from rest_framework.negotiation import BaseContentNegotiation

# A spreadsheet runs a cell that starts like a formula (CSV injection, OWASP): such text gets a leading quote.
FORMULA_START = ("=", "+", "-", "@", "\t", "\r")


def csv_cell(value):
    """``value`` as a CSV cell: None empty, text that starts like a formula prefixed with ``'``, numbers as they are."""
    if value is None:
        return ""
    if isinstance(value, str) and value.startswith(FORMULA_START):
        return "'" + value
    return value


def csv_download(*, name, columns, rows) -> HttpResponse:
    """A ``text/csv`` attachment named ``<name>.csv`` (slugified): a header of ``columns``, then each dict of
    ``rows`` by those keys."""
    buffer = io.StringIO()
    writer = csv.writer(buffer)
    writer.writerow(columns)
    writer.writerows([csv_cell(row[column]) for column in columns] for row in rows)
    response = HttpResponse(buffer.getvalue(), content_type="text/csv; charset=utf-8")
    response["Content-Disposition"] = content_disposition_header(as_attachment=True, filename=f"{slugify(name)}.csv")
    return response


class CsvNegotiation(BaseContentNegotiation):
    """A CSV download answers CSV whatever the client's Accept says, and its errors JSON (the API renders JSON
    only, so ``Accept: text/csv`` would otherwise be a 406 before the view runs)."""

    def select_parser(self, request, parsers):
        return parsers[0]

    def select_renderer(self, request, renderers, format_suffix=None):
        return renderers[0], renderers[0].media_type

"""An upload's manifest (``manifest.jsonl`` or ``manifest.csv``) as rows, or the report of its bad lines.

Columns (JSONL keys): ``image`` (a member of the archive), ``question``,
optional ``answer`` and ``model`` (who wrote the answer); anything else is
kept in the prompt's ``origin`` (JSONL may also give an ``origin`` object).
Lines are numbered from 1 as an editor shows them (a CSV row by the line it
starts on, the header being line 1).
"""
import csv
import io
import json
from typing import NamedTuple

from django.conf import settings

from annotate.services.upload_archive import REPORT_MAX_LINES, entry, path_problem
from config.fields import unstorable_json, unstorable_text

MANIFESTS = ("manifest.jsonl", "manifest.csv")
REQUIRED = ("image", "question")
COLUMNS = (*REQUIRED, "answer", "model")
MAX_MODEL_CHARS = 200  # Response.model_name


class Row(NamedTuple):
    line: int
    image: str
    question: str
    answer: str
    model: str
    origin: dict


def _decode(data, rejected) -> str | None:
    """The manifest as text, or None with each line that is not UTF-8 reported (a newline byte never sits
    inside a multi-byte character, so lines can be decoded one by one)."""
    for number, raw in enumerate(data.split(b"\n"), 1):
        try:
            raw.decode("utf-8")
        except UnicodeDecodeError as error:
            if len(rejected) == REPORT_MAX_LINES:
                rejected.append(entry(number, "manifest", "not valid UTF-8, nor are more lines after it."))
                break
            rejected.append(entry(number, "manifest", f"not valid UTF-8 (byte 0x{raw[error.start]:02x} at "
                                                      f"column {error.start + 1})."))
    return None if rejected else data.decode("utf-8-sig")


def _text(values, key, line, rejected, *, limit, required):
    value = values.get(key)
    if value is None or value == "":
        if required:
            rejected.append(entry(line, key, "is missing or empty."))
        return ""
    if not isinstance(value, str):
        rejected.append(entry(line, key, f"must be a string, not {type(value).__name__}."))
        return ""
    if len(value) > limit:
        rejected.append(entry(line, key, f"has {len(value)} characters; the limit is {limit}."))
        return ""
    if problem := unstorable_text(value):
        rejected.append(entry(line, key, problem))
        return ""
    if required and not value.strip():
        rejected.append(entry(line, key, "is blank."))
    return value


def _origin(values, line, rejected) -> dict:
    origin = values.get("origin") or {}
    if isinstance(origin, str):  # a CSV's origin column: the JSON of an object
        try:
            origin = json.loads(origin)
        except (ValueError, RecursionError):
            origin = None
    if not isinstance(origin, dict):
        rejected.append(entry(line, "origin", "must be a JSON object."))
        return {}
    origin = {**origin, **{key: value for key, value in values.items()
                           if key not in (*COLUMNS, "origin") and value not in ("", None)}}
    if problem := unstorable_json(origin):
        rejected.append(entry(line, "origin", problem))
    elif len(json.dumps(origin, ensure_ascii=False)) > settings.UPLOAD_MAX_ANSWER_CHARS:
        rejected.append(entry(line, "origin", f"is longer than {settings.UPLOAD_MAX_ANSWER_CHARS} characters "
                                              "as JSON (UPLOAD_MAX_ANSWER_CHARS)."))
    return origin


def row_parse(values: dict, line: int, rejected: list) -> Row | None:
    """One manifest row (a dict of its columns) as a ``Row``; its problems go to ``rejected``."""
    before = len(rejected)
    image = _text(values, "image", line, rejected, limit=1000, required=True)
    if image and (problem := path_problem(image)):
        rejected.append(entry(line, "image", f"the path {image!r} {problem}."))
    question = _text(values, "question", line, rejected, limit=settings.UPLOAD_MAX_QUESTION_CHARS, required=True)
    answer = _text(values, "answer", line, rejected, limit=settings.UPLOAD_MAX_ANSWER_CHARS, required=False)
    model = _text(values, "model", line, rejected, limit=MAX_MODEL_CHARS, required=False)
    if model and not answer and "answer" not in {item["field"] for item in rejected[before:]}:
        rejected.append(entry(line, "model", "names who wrote an answer, but the row has no answer."))
    origin = _origin(values, line, rejected)
    if len(rejected) > before:
        return None
    return Row(line, image.removeprefix("./"), question.strip(), answer, model.strip(), origin)


def _check_rows(rows):
    """Rows are counted good or bad, so that a report too stays within ``UPLOAD_MAX_ROWS`` lines."""
    if rows > settings.UPLOAD_MAX_ROWS:
        raise RowLimit()


def _jsonl_rows(text, rejected):
    rows = 0
    for number, line in enumerate(text.split("\n"), 1):
        if not line.strip():
            continue
        rows += 1
        _check_rows(rows)
        try:
            values = json.loads(line)
        except ValueError as error:
            rejected.append(entry(number, "manifest", f"not JSON ({getattr(error, 'msg', error)})."))
            continue
        except RecursionError:
            rejected.append(entry(number, "manifest", "nested too deeply."))
            continue
        if not isinstance(values, dict):
            rejected.append(entry(number, "manifest", "not a JSON object."))
            continue
        yield number, values


def _csv_rows(text, rejected):
    reader, rows = csv.reader(io.StringIO(text, newline="")), 0
    try:
        header = [name.strip() for name in next(reader)]
    except StopIteration:
        return
    except csv.Error as error:
        rejected.append(entry(1, "columns", f"the header is not CSV ({error})."))
        return
    missing = [name for name in REQUIRED if name not in header]
    twice = sorted({name for name in header if header.count(name) > 1})
    if missing or twice or "" in header:
        problem = (f"missing column(s) {', '.join(missing)}" if missing else
                   f"column(s) {', '.join(twice)} appear twice" if twice else "a column has no name")
        rejected.append(entry(1, "columns", f"{problem}; the header is {','.join(header)!r}, a manifest has "
                                            f"{', '.join(REQUIRED)} and optionally answer, model and more."))
        return
    while True:
        start = reader.line_num + 1
        try:
            cells = next(reader)
        except StopIteration:
            return
        except csv.Error as error:
            rejected.append(entry(start, "manifest", f"not CSV ({error})."))
            return
        if not any(cell.strip() for cell in cells):
            continue
        rows += 1
        _check_rows(rows)
        if len(cells) != len(header):
            rejected.append(entry(start, "columns", f"has {len(cells)} fields; the header has {len(header)}."))
            continue
        yield start, dict(zip(header, cells))


def manifest_rows(data: bytes, *, name: str, rejected: list) -> list[Row]:
    """The rows of manifest ``name`` (its bytes ``data``); every bad line goes to ``rejected``."""
    text = _decode(data, rejected)
    if text is None:
        return []
    lines = _jsonl_rows(text, rejected) if name.endswith(".jsonl") else _csv_rows(text, rejected)
    rows = []
    for number, values in lines:
        if (row := row_parse(values, number, rejected)) is not None:
            rows.append(row)
    if not rows and not rejected:
        rejected.append(entry(None, "manifest", "the manifest has no rows."))
    return rows


class RowLimit(Exception):
    """More rows than ``UPLOAD_MAX_ROWS``."""

"""The instructions' Markdown renderer (annotate.markdown) against hostile input: nothing but its own tags."""
import time
from html.parser import HTMLParser

import pytest

from annotate.markdown import markdown_to_html

TAGS = {"p", "h3", "h4", "h5", "h6", "ul", "ol", "li", "pre", "code", "strong", "em", "a"}
SAFE_HREF = ("http://", "https://", "mailto:", "/", "#")


class _Tags(HTMLParser):
    """The start tags of a fragment, with their attributes as the browser decodes them; checks nesting."""

    def __init__(self):
        super().__init__(convert_charrefs=True)
        self.tags, self.open = [], []

    def handle_starttag(self, tag, attrs):
        self.tags.append((tag, dict(attrs)))
        self.open.append(tag)

    def handle_endtag(self, tag):
        assert self.open and self.open[-1] == tag, f"</{tag}> closes {self.open}"
        self.open.pop()


def _tags(text):
    parser = _Tags()
    parser.feed(markdown_to_html(text))
    parser.close()
    assert not parser.open, f"left open: {parser.open}"
    return parser.tags


HOSTILE = [
    "[x](javascript:alert(1))",
    "[x](JaVaScRiPt:alert(1))",
    "[x](  javascript:alert(1))",
    "[x](\tjavascript:alert(1))",
    "[x](java\nscript:alert(1))",
    "[x](&#106;avascript:alert(1))",
    "[x](&#x6A;avascript:alert(1))",
    "[x](javascript&#58;alert(1))",
    "[x](javascript&colon;alert(1))",
    "[x](data:text/html;base64,PHNjcmlwdD4=)",
    "[x](vbscript:msgbox(1))",
    '<img src=x onerror="alert(1)">',
    "<script>alert(1)</script>",
    "<a href=\"javascript:alert(1)\">x</a>",
    "[[x](https://a.org)](javascript:alert(1))",
    "[x](https://a.org/\"onmouseover=\"alert(1))",
    "[x](https://a.org/'onmouseover='alert(1))",
    "[x](https://a.org/`onmouseover=alert(1)`)",
    "*open [x](https://a.org/b*) close*",
    "[x](https://a.org/**b**) and [y](https://a.org/_c_)",
    "[x`](javascript:alert(1))`",
    "# [x](javascript:alert(1))",
    "- [x](JAVASCRIPT:alert(1))\n1. <svg onload=alert(1)>",
    "```\n<script>alert(1)</script>\n```",
]


@pytest.mark.parametrize("text", HOSTILE)
def test_hostile_input_yields_only_the_renderers_tags_and_safe_links(text):
    """Only the renderer's own tags; an ``a`` has only ``href`` (a safe address) and ``rel``; tags nest."""
    for tag, attrs in _tags(text):
        assert tag in TAGS, (tag, text)
        if tag == "a":
            assert set(attrs) == {"href", "rel"}, attrs
            assert attrs["href"].lower().startswith(SAFE_HREF), attrs
        else:
            assert not attrs, (tag, attrs)


@pytest.mark.parametrize("address", ["//evil.org", "/\\evil.org", "\\\\evil.org"])
def test_a_link_to_another_host_without_a_scheme_stays_text(address):
    """``//host`` and ``/\\host`` (read as ``//host``) are not relative paths."""
    assert _tags(f"[x]({address})") == [("p", {})]


def test_emphasis_never_lands_inside_an_address():
    """The address is kept as written; the emphasis applies to the link's text."""
    rendered = markdown_to_html("[**b**](https://a.org/_c_/x**y**)")
    assert rendered == '<p><a href="https://a.org/_c_/x**y**" rel="nofollow noopener"><strong>b</strong></a></p>'


@pytest.mark.parametrize("unit", ["*a ", "_a ", "**a ", "[a](", "[a](b", "[", "`a "])
def test_unclosed_markup_renders_in_linear_time(unit):
    """20,000 characters of unclosed markup (the instructions' limit) render in well under a second."""
    started = time.perf_counter()
    markdown_to_html(unit * (20_000 // len(unit)))
    assert time.perf_counter() - started < 1.0

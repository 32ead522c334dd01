"""A small Markdown subset for a project's instructions, rendered safely.

Everything the manager wrote is HTML-escaped first; only then do the few
constructs below become tags, so no raw HTML (``<script>``, ``onerror=``...)
ever reaches a page: it shows as the text it is. Links keep only ``http``,
``https`` and ``mailto`` addresses and relative paths.

Blocks: paragraphs (blank-line separated), ``#``/``##``/``###`` headings,
``-``/``*`` and ``1.`` lists, ``` fenced code. Inline: `` `code` ``,
``**bold**``, ``*italic*`` / ``_italic_``, ``[text](address)``.
"""
import html
import re

_HEADING = re.compile(r"^(#{1,6})\s+(.*)$")
_BULLET = re.compile(r"^\s*[-*+]\s+(.*)$")
_NUMBERED = re.compile(r"^\s*\d+[.)]\s+(.*)$")
_CODE_SPAN = re.compile(r"(`+)(.+?)\1")
# Bounded text and address: a search that fails from each ``[`` stops after so many characters.
_LINK = re.compile(r"\[([^\]\n]{1,500})\]\(([^)\s]{1,2000})\)")
# An emphasis never runs past the next delimiter of its kind: the search from each opening stops there, so a
# line of unclosed ``*a *a *a`` costs linear time, not quadratic.
_BOLD = re.compile(r"\*\*(?=\S)((?:(?!\*\*).)+?)(?<=\S)\*\*")
_ITALIC = re.compile(r"(?<![\w*])([*_])(?=\S)((?:(?!\1).)+?)(?<=\S)\1(?![\w*])")
_SAFE_ADDRESS = re.compile(r"^(https?://|mailto:|/|#)", re.IGNORECASE)
_OTHER_HOST = re.compile(r"^[/\\]{2}|^/\\")  # //host, and /\host, which browsers read as //host


def _link(match):
    """The link's tag, its text emphasised; its address as written (no tag may land inside the attribute)."""
    text, address = match.group(1), match.group(2)
    if not _SAFE_ADDRESS.match(html.unescape(address)) or _OTHER_HOST.match(html.unescape(address)):
        return _emphasis(match.group(0))
    return f'<a href="{address}" rel="nofollow noopener">{_emphasis(text)}</a>'


def _split(pattern, escaped, inside, between):
    """``escaped`` with ``inside(match)`` for each match of ``pattern`` and ``between(text)`` for the rest."""
    out, last = [], 0
    for match in pattern.finditer(escaped):
        out += [between(escaped[last:match.start()]), inside(match)]
        last = match.end()
    out.append(between(escaped[last:]))
    return "".join(out)


def _inline(escaped):
    """Inline markup of already escaped text: code spans as they are, then links, then emphasis outside them
    (so an emphasis never opens in the text and closes inside an ``href``)."""
    return _split(_CODE_SPAN, escaped, lambda match: f"<code>{match.group(2)}</code>",
                  lambda text: _split(_LINK, text, _link, _emphasis))


def _emphasis(escaped):
    escaped = _BOLD.sub(r"<strong>\1</strong>", escaped)
    return _ITALIC.sub(r"<em>\2</em>", escaped)


def markdown_to_html(text: str) -> str:
    """The instructions as HTML that holds no markup of the author's own (every ``<`` and ``&`` escaped)."""
    lines = html.escape(text or "", quote=True).replace("\r\n", "\n").split("\n")
    blocks, paragraph, items, list_tag, code = [], [], [], None, None

    def close_paragraph():
        if paragraph:
            blocks.append(f"<p>{_inline(' '.join(paragraph))}</p>")
            paragraph.clear()

    def close_list():
        nonlocal list_tag
        if items:
            blocks.append(f"<{list_tag}>" + "".join(f"<li>{_inline(item)}</li>" for item in items) + f"</{list_tag}>")
            items.clear()
        list_tag = None

    for line in lines:
        if code is not None:
            if line.strip().startswith("```"):
                blocks.append("<pre><code>" + "\n".join(code) + "</code></pre>")
                code = None
            else:
                code.append(line)
            continue
        if line.strip().startswith("```"):
            close_paragraph(), close_list()
            code = []
            continue
        heading, bullet, numbered = _HEADING.match(line), _BULLET.match(line), _NUMBERED.match(line)
        if not line.strip():
            close_paragraph(), close_list()
        elif heading:
            close_paragraph(), close_list()
            level = min(len(heading.group(1)) + 2, 6)  # the page has its own h1 and h2
            blocks.append(f"<h{level}>{_inline(heading.group(2).strip())}</h{level}>")
        elif bullet or numbered:
            close_paragraph()
            tag = "ul" if bullet else "ol"
            if list_tag != tag:
                close_list()
                list_tag = tag
            items.append((bullet or numbered).group(1))
        elif items:  # a continuation line of the last item
            items[-1] += " " + line.strip()
        else:
            paragraph.append(line.strip())
    if code is not None:
        blocks.append("<pre><code>" + "\n".join(code) + "</code></pre>")
    close_paragraph(), close_list()
    return "\n".join(blocks)

"""The annotator and reviewer screens in a real browser: exact offsets, drafts, escaping, keyboard, review."""
import hashlib
import io
import json

import pytest
from django.core.files.base import ContentFile
from django.test import Client

from annotate.models import Annotation, AnnotationStatus, ImageAsset, Response, Segment
from annotate.services import apply_segments
from tests.browser.conftest import log_in, screenshot
from synthetic.render import render
from synthetic.scenes import make_scene
from tests.factories import make_project, make_response, make_user
from training.ddpo.alignment import segment_errors

pytestmark = [pytest.mark.slow, pytest.mark.browser, pytest.mark.django_db(transaction=True)]

# Emoji before the span shift UTF-16 offsets; the span holds a ZWJ sequence and a combining mark.
EMOJI_TEXT = "🇫🇷 Here two 🐈‍⬛ black cats sit by the cafe\u0301 on the left, near 日本 and שלום."


CHAR_RECT_JS = """([cp, n]) => {
    // The client rect of code points [cp, cp + n) of the answer, across its text nodes.
    const answer = document.getElementById("answer");
    const cps = Array.from(answer.textContent);
    const at = (u16) => {
        const walker = document.createTreeWalker(answer, NodeFilter.SHOW_TEXT);
        for (let node = walker.nextNode(); node; node = walker.nextNode()) {
            if (u16 < node.length) return [node, u16];
            u16 -= node.length;
        }
    };
    const start = cps.slice(0, cp).join("").length;
    const [node, offset] = at(start);
    const range = document.createRange();
    range.setStart(node, offset);
    range.setEnd(node, offset + cps.slice(cp, cp + n).join("").length);
    const r = range.getBoundingClientRect();
    return {left: r.left, right: r.right, y: r.top + r.height / 2};
}"""


def drag_select(page, start, end_char, end_len=1):
    """A real mouse drag from the left edge of code point ``start`` to the right edge of the grapheme at ``end_char``."""
    first = page.evaluate(CHAR_RECT_JS, [start, 1])
    last = page.evaluate(CHAR_RECT_JS, [end_char, end_len])
    page.mouse.move(first["left"] + 1, first["y"])
    page.mouse.down()
    page.mouse.move((first["left"] + last["right"]) / 2, (first["y"] + last["y"]) / 2, steps=5)
    page.mouse.move(last["right"] - 1, last["y"], steps=5)
    page.mouse.up()


def show_scene(response, seed=7):
    """Give the answer's prompt a rendered shapes scene, so the screenshots show a real image."""
    buffer = io.BytesIO()
    render(make_scene(seed), size=256).save(buffer, format="PNG")
    data = buffer.getvalue()
    image = ImageAsset(sha256=hashlib.sha256(data).hexdigest(), width=256, height=256, size_bytes=len(data))
    image.file.save("scene.png", ContentFile(data), save=False)
    image.save()
    response.prompt.image = image
    response.prompt.save(update_fields=["image"])


def open_task(page, text="There is a red circle and a blue square.", question="Describe the image in detail.", more=()):
    """A project with an answer to correct (and ``more`` after it); its annotator logged in on the annotator screen."""
    project = make_project()
    annotator = make_user(role="annotator", project=project)
    response = make_response(project, text=text, question=question)
    show_scene(response)
    for other in more:
        make_response(project, text=other)
    log_in(page, annotator, then=f"/projects/{project.id}/annotate/")
    page.wait_for_selector("#task:not([hidden])")
    return annotator, response


def test_mouse_drag_across_emoji_and_combining_mark_stores_code_points(watched):
    """Drag, category key, rewrite, Ctrl+Enter: the stored segment has the exact code-point offsets."""
    page = watched.page
    start = EMOJI_TEXT.index("two")
    last = EMOJI_TEXT.index("cafe\u0301") + 3  # the grapheme e + U+0301
    end = last + 2
    annotator, response = open_task(page, EMOJI_TEXT, question="What sits by the café?")
    assert page.text_content("#answer") == EMOJI_TEXT

    drag_select(page, start, last, end_len=2)
    page.wait_for_selector(".cat-toolbar:not([hidden])")
    page.keyboard.press("1")
    page.keyboard.type("one grey cat sits by the fountain")
    screenshot(page, "annotator-rewrite-box")
    page.keyboard.press("Enter")

    expected = {"start": start, "end": end, "category": "object", "replacement": "one grey cat sits by the fountain"}
    chosen, _ = apply_segments(EMOJI_TEXT, [expected])
    assert page.text_content("#preview") == EMOJI_TEXT[:end] + expected["replacement"] + EMOJI_TEXT[end:]
    assert page.locator("#preview del").text_content() == EMOJI_TEXT[start:end]
    assert page.locator("#answer mark.seg").text_content() == EMOJI_TEXT[start:end]
    assert page.locator("#segments .seg-item").count() == 1
    screenshot(page, "annotator")

    page.keyboard.press("Control+Enter")
    page.wait_for_selector("#queue-empty:not([hidden])")
    assert page.text_content("#queue") == "1 done · 0 remaining"
    annotation = Annotation.objects.get(task__response=response, annotator=annotator)
    assert annotation.status == AnnotationStatus.SUBMITTED
    assert list(annotation.segments.values("start", "end", "category", "replacement")) == [expected]
    assert apply_segments(response.text, [expected])[0] == chosen
    screenshot(page, "annotator-queue-empty")


def test_overlapping_selection_is_refused_with_a_message(watched):
    """A second selection overlapping the first is refused visibly; nothing is added."""
    page = watched.page
    open_task(page, "A red circle and a blue square.")
    drag_select(page, 2, 4)  # "red"
    page.keyboard.press("4")
    page.keyboard.type("green")
    page.keyboard.press("Enter")
    drag_select(page, 4, 11)  # "d circle"
    page.keyboard.press("1")
    assert "Overlapping selection refused" in page.locator("#notice").text_content()
    assert page.locator(".rewrite-box").is_hidden()
    assert page.locator("#segments .seg-item").count() == 1


def test_an_open_rewrite_is_never_thrown_away(watched):
    """The legend's category chips mark the selection; a typed rewrite survives a click on another highlight
    (refused with a message) and "No hallucination" (saved as a segment, nothing submitted)."""
    page = watched.page
    annotator, response = open_task(page, "A red circle and a blue square.")
    drag_select(page, 2, 4)  # "red"
    page.click("#legend button:has-text('attribute')")
    assert page.locator(".rewrite-box").is_visible()
    page.keyboard.type("green")
    page.keyboard.press("Enter")
    drag_select(page, 19, 22)  # "blue"
    page.keyboard.press("4")
    page.keyboard.type("yellow")
    page.click("#answer mark.seg")  # the "red" highlight
    assert "Save (Enter) or cancel (Esc)" in page.locator("#notice").text_content()
    assert page.input_value(".rewrite-box input.rewrite") == "yellow"
    page.click("#no-hallucination")
    assert page.locator("#segments .seg-item").count() == 2
    assert "This answer has segments" in page.locator("#notice").text_content()
    assert not Annotation.objects.filter(annotator=annotator, status=AnnotationStatus.SUBMITTED).exists()


def test_phone_width_stacks_the_panels(watched):
    """At 420 px the annotator screen is one column with no sideways scrolling."""
    page = watched.page
    page.set_viewport_size({"width": 420, "height": 900})
    open_task(page, "A red circle and a blue square.")
    assert page.evaluate("document.documentElement.scrollWidth") <= 420
    image, answer = page.locator(".image-panel").bounding_box(), page.locator(".text-panel").bounding_box()
    assert answer["y"] >= image["y"] + image["height"]
    screenshot(page, "annotator-phone")


def test_draft_is_saved_and_restored_after_reload_and_leaving(watched):
    """Autosave keeps the draft across a reload; leaving the page saves the latest edit (keepalive fetch)."""
    page = watched.page
    annotator, response = open_task(page, "A red circle and a blue square.")
    drag_select(page, 2, 4)
    page.keyboard.press("4")
    page.keyboard.type("green")
    page.keyboard.press("Enter")
    page.wait_for_selector("#save-state.ok", timeout=8000)
    page.reload()
    page.wait_for_selector("#task:not([hidden])")
    assert page.locator("#segments .seg-item").count() == 1
    assert page.locator("#segments ins").text_content() == "green"

    drag_select(page, 19, 22)  # "blue"
    page.keyboard.press("4")
    page.keyboard.press("Backspace")  # empty rewrite = delete the words
    page.keyboard.press("Enter")
    screen = page.url
    page.goto("/")  # leave at once, before the autosave interval
    annotation = Annotation.objects.get(task__response=response, annotator=annotator)
    for _ in range(50):
        if annotation.segments.count() == 2:
            break
        page.wait_for_timeout(100)
    assert annotation.status == AnnotationStatus.DRAFT
    assert list(annotation.segments.values_list("start", "end", "replacement")) == [(2, 5, "green"), (19, 23, "")]
    page.goto(screen)
    page.wait_for_selector("#task:not([hidden])")
    assert page.locator("#segments .seg-item").count() == 2


def test_xss_payloads_render_as_text(watched):
    """Markup in the answer, question, project name, instructions and a rewrite shows as text; no dialog fires."""
    page = watched.page
    payload = '<img src=x onerror="alert(1)"><script>alert(2)</script>'
    project = make_project(name='<img src=x onerror="alert(3)">', instructions="<script>alert(4)</script>")
    annotator = make_user(role="annotator", project=project)
    text = f"Look {payload} here."
    make_response(project, text=text, question='<b onmouseover="alert(5)">Q</b><img src=x onerror="alert(6)">')
    log_in(page, annotator)
    assert page.locator(".project h2").text_content() == project.name
    page.click("a.button:has-text('Annotate')")
    page.wait_for_selector("#task:not([hidden])")
    assert page.text_content("#answer") == text
    assert page.text_content("#question") == '<b onmouseover="alert(5)">Q</b><img src=x onerror="alert(6)">'
    drag_select(page, text.index("here"), text.index("here") + 3)
    page.keyboard.press("6")
    page.keyboard.type('<img src=y onerror="alert(7)">')
    page.keyboard.press("Enter")
    assert page.locator("#segments ins").text_content() == '<img src=y onerror="alert(7)">'
    assert '<img src=y onerror="alert(7)">' in page.text_content("#preview")
    assert page.locator(":is(#answer, #question, #preview, #segments, .topbar, .instructions) :is(img, script, b)").count() == 0
    page.wait_for_timeout(300)  # give any injected handler the chance to fire


def test_keyboard_only_flow(watched):
    """Shift+arrows select, a digit picks the category, Enter saves, a caret insertion, undo/redo, help, Ctrl+Enter."""
    page = watched.page
    text = "The red circle is left of two blue squares."
    annotator, response = open_task(page, text)
    assert page.evaluate("document.activeElement.id") == "answer"
    for _ in range(4):
        page.keyboard.press("ArrowRight")
    for _ in range(3):
        page.keyboard.press("Shift+ArrowRight")
    page.keyboard.press("4")
    page.keyboard.type("green")
    page.keyboard.press("Enter")  # the caret is now after the segment, at 7
    blue = text.index("blue")
    for _ in range(blue - 7):
        page.keyboard.press("ArrowRight")
    page.keyboard.press("4")  # no selection: insert at the caret
    page.keyboard.type("dark ")
    page.keyboard.press("Enter")
    assert page.locator("#segments .seg-item").count() == 2
    page.keyboard.press("Control+z")
    assert page.locator("#segments .seg-item").count() == 1
    page.keyboard.press("Control+Shift+Z")
    assert page.locator("#segments .seg-item").count() == 2
    page.keyboard.press("?")
    assert page.locator("#help-dialog").is_visible()
    screenshot(page, "annotator-help")
    page.keyboard.press("?")  # toggles, as the help says
    assert page.locator("#help-dialog").is_hidden()
    page.keyboard.press("?")
    page.keyboard.press("Escape")
    assert page.locator("#help-dialog").is_hidden()
    page.keyboard.press("Control+Enter")
    page.wait_for_selector("#queue-empty:not([hidden])")
    annotation = Annotation.objects.get(task__response=response, annotator=annotator, status=AnnotationStatus.SUBMITTED)
    assert list(annotation.segments.values_list("start", "end", "category", "replacement")) == [
        (4, 7, "attribute", "green"), (blue, blue, "attribute", "dark "),
    ]


def test_no_hallucination_skip_zoom_and_queue_position(watched):
    """Alt+N records "no hallucination", Skip asks for a reason, the image zooms, the queue counts down."""
    page = watched.page
    annotator, first = open_task(page, "A red circle.", more=["A blue square.", "A green triangle."])
    second, third = Response.objects.filter(prompt__project=first.prompt.project_id).exclude(pk=first.pk).order_by("pk")
    assert page.text_content("#queue") == "0 done · 3 remaining"
    # Wait for the image: its frame grows when it loads, and a click aimed before that can miss it.
    page.wait_for_function("document.getElementById('image').complete && document.getElementById('image').naturalWidth > 0")
    page.click("#image-frame")
    page.locator("#zoom-dialog").wait_for(state="visible")
    page.click("#zoom-dialog")
    assert page.locator("#zoom-dialog").is_hidden()
    page.focus("#answer")
    page.keyboard.press("Alt+n")
    page.wait_for_function("document.getElementById('queue').textContent === '1 done · 2 remaining'")
    page.click("#skip")
    page.fill("input[name=other]", "x")  # typing a reason picks "Other"
    assert page.is_checked("input[value=other]")
    page.fill("input[name=other]", "")
    page.press("input[name=other]", "Enter")  # an empty "Other" keeps the dialog open
    assert page.locator("#skip-dialog").is_visible()
    page.type("input[name=other]", "Cannot see the <square>")
    page.press("input[name=other]", "Enter")  # Enter skips (it used to press the first button, Cancel)
    page.wait_for_function(f"document.getElementById('answer').textContent === {third.text!r}")
    judged = {a.task.response_id: a for a in Annotation.objects.filter(annotator=annotator).select_related("task")}
    assert judged[first.id].status == AnnotationStatus.SUBMITTED and judged[first.id].no_hallucination
    assert judged[second.id].status == AnnotationStatus.SKIPPED
    assert judged[second.id].skip_reason == "Cannot see the <square>"


OFFSET_CASES = [
    "👨‍👩‍👧‍👦 family", "🇯🇵🇫🇷 flags", "e\u0301\u0302 marks", "日本語のテキスト", "שָׁלוֹם مرحبا", "a𝒳b🏳️‍🌈c", "\u1100\u1161\u11a8 jamo",
]


def test_offset_conversion_round_trips(watched):
    """The page's UTF-16 ↔ code point conversion agrees with Python on emoji, flags, marks, CJK and RTL."""
    page = watched.page
    open_task(page)
    result = page.evaluate("""async (cases) => {
        const t = await import("/static/frontend/js/text.js");
        return cases.map((s) => ({
            u16: [...Array(Array.from(s).length + 1).keys()].map((cp) => t.codePointToUtf16(s, cp)),
            back: [...Array(Array.from(s).length + 1).keys()].map((cp) => t.utf16ToCodePoint(s, t.codePointToUtf16(s, cp))),
            graphemes: t.graphemeBoundaries(s).map((u) => t.utf16ToCodePoint(s, u)),
        }));
    }""", OFFSET_CASES)
    for text, got in zip(OFFSET_CASES, result):
        assert got["back"] == list(range(len(text) + 1)), text
        assert got["u16"] == [len(text[:cp].encode("utf-16-le")) // 2 for cp in range(len(text) + 1)], text
    # A ZWJ family, a flag pair and a letter with two marks are single graphemes.
    assert result[0]["graphemes"][:2] == [0, 7]
    assert result[1]["graphemes"][:3] == [0, 2, 4]
    assert result[2]["graphemes"][:2] == [0, 3]


def _seg(start, end, replacement="x"):
    return {"start": start, "end": end, "category": "object", "replacement": replacement}


SINGLE_SEGMENTS = [_seg(0, 3), _seg(3, 3), _seg(0, 40, ""), _seg(40, 40), _seg(-1, 3), _seg(3, 41), _seg(41, 41),
                   _seg(5, 3), _seg(4, 4, "")]
SEGMENT_PAIRS = [(_seg(0, 3), _seg(3, 6)), (_seg(0, 4), _seg(3, 6)), (_seg(3, 3, "a"), _seg(3, 3, "b")),
                 (_seg(3, 3), _seg(0, 3)), (_seg(3, 3), _seg(3, 6)), (_seg(4, 4), _seg(3, 6)), (_seg(0, 10), _seg(2, 5)),
                 (_seg(5, 8), _seg(0, 3))]


def test_the_editor_checks_segments_by_the_server_rules(watched):
    """segments.js agrees with training.ddpo.alignment.segment_errors: the same field and message for a segment
    on its own, the same verdict on a pair that may overlap."""
    page = watched.page
    _, response = open_task(page)
    result = page.evaluate("""async ([length, singles, pairs]) => {
        const s = await import("/static/frontend/js/segments.js");
        return {
            singles: singles.map((segment) => s.segmentProblem(segment, length)),
            pairs: pairs.map(([a, b]) => Boolean(s.findOverlap([a], b))),
        };
    }""", [len(response.text), SINGLE_SEGMENTS, SEGMENT_PAIRS])
    for segment, problem in zip(SINGLE_SEGMENTS, result["singles"]):
        errors = segment_errors(response.text, [segment])
        assert problem == ({"field": errors[0].field, "message": errors[0].message} if errors else None), segment
    for pair, overlaps in zip(SEGMENT_PAIRS, result["pairs"]):
        assert overlaps == bool(segment_errors(response.text, list(pair))), pair
    assert any(result["singles"]) and not all(result["singles"]) and any(result["pairs"]) and not all(result["pairs"])


def _submit_via_api(user, response, segments, no_hallucination=False):
    client = Client()
    client.force_login(user)
    project = response.prompt.project_id
    task = client.post(f"/api/tasks/next/?project={project}").json()
    assert task["response"]["id"] == response.id
    answer = client.post("/api/annotations/", json.dumps({
        "task": task["id"], "segments": segments, "submit": True, "no_hallucination": no_hallucination,
    }), content_type="application/json")
    assert answer.status_code == 201, answer.content


def test_reviewer_accepts_edits_and_rejects_side_by_side(watched):
    """Two annotations of one answer side by side; edit-then-accept one, reject the other with a reason."""
    page = watched.page
    project = make_project(overlap=2, name="shapes <review>")
    alice = make_user(role="annotator", project=project, username="alice")
    bob = make_user(role="annotator", project=project, username="bob<script>")
    reviewer = make_user(role="reviewer", project=project)
    text = "There is a red circle above two blue squares 🟦🟦."
    response = make_response(project, text=text, question="Describe the image.")
    show_scene(response)
    red, two = text.index("red"), text.index("two")
    _submit_via_api(alice, response, [
        {"start": red, "end": red + 3, "category": "attribute", "replacement": "green"},
        {"start": two, "end": two + 3, "category": "number", "replacement": "three"},
    ])
    _submit_via_api(bob, response, [{"start": red, "end": red + 3, "category": "attribute", "replacement": "yellow"}])

    log_in(page, reviewer)
    screenshot(page, "home")
    page.click("a.button:has-text('Review')")
    page.wait_for_selector("#review:not([hidden])")
    cards = page.locator(".review-card")
    assert cards.count() == 2
    assert sorted(cards.locator(".who").all_text_contents()) == ["alice", "bob<script>"]
    page.wait_for_selector(".agreement-overall")
    screenshot(page, "reviewer")

    alice_card = page.locator(".review-card", has=page.locator(".who", has_text="alice"))
    alice_card.locator("button:has-text('Edit & accept')").click()
    page.wait_for_selector("#edit-dialog[open]")
    page.locator("#edit-segments .seg-item", has_text="three").locator("button:has-text('Delete')").click()
    assert page.locator("#edit-segments .seg-item").count() == 1
    screenshot(page, "reviewer-edit")
    page.click("#edit-accept")
    page.wait_for_selector("#edit-dialog:not([open])", state="attached")
    assert alice_card.locator(".badge").first.text_content() == "accepted"  # the card shows what was stored
    assert "1 segment" in alice_card.locator("header").text_content()

    bob_card = page.locator(".review-card", has=page.locator(".who", has_text="bob"))
    bob_card.locator("input.reason").fill("Yellow is wrong: the circle is green.")
    bob_card.locator("input.reason").press("Enter")
    page.wait_for_selector("button:has-text('Next answer')")
    assert bob_card.locator(".badge").first.text_content() == "rejected"

    decided = {a.annotator.username: a for a in Annotation.objects.filter(task__response=response)}
    assert decided["alice"].status == AnnotationStatus.ACCEPTED
    assert list(Segment.objects.filter(annotation=decided["alice"]).values_list("start", "end", "replacement")) == [
        (red, red + 3, "green"),
    ]
    assert decided["bob<script>"].status == AnnotationStatus.REJECTED
    assert decided["bob<script>"].review_reason == "Yellow is wrong: the circle is green."
    page.click("button:has-text('Next answer')")
    page.wait_for_selector("#review-empty:not([hidden])")

    # The rejected answer comes back to bob with the reason and his segment; he fixes the rewrite and resubmits.
    page.context.clear_cookies()
    log_in(page, bob, then=f"/projects/{project.id}/annotate/")
    page.wait_for_selector("#task:not([hidden])")
    assert page.locator("#returned").is_visible()
    assert page.text_content("#returned-by") == reviewer.username
    assert page.text_content("#returned-reason") == "Yellow is wrong: the circle is green."
    assert page.locator("#segments ins").all_text_contents() == ["yellow"]
    screenshot(page, "annotator-returned")
    page.click("#answer mark.seg")
    page.fill(".rewrite-box input.rewrite", "green")
    page.keyboard.press("Enter")
    page.keyboard.press("Control+Enter")
    page.wait_for_selector("#queue-empty:not([hidden])")
    bob_annotation = Annotation.objects.get(pk=decided["bob<script>"].pk)
    assert bob_annotation.status == AnnotationStatus.SUBMITTED
    assert list(bob_annotation.segments.values_list("start", "end", "replacement")) == [(red, red + 3, "green")]

    # The reviewer sees the fix with the reason it was sent back for.
    page.context.clear_cookies()
    log_in(page, reviewer, then=f"/projects/{project.id}/review/")
    page.wait_for_selector("#review:not([hidden])")
    assert page.locator(".review-card .returned q").all_text_contents() == ["Yellow is wrong: the circle is green."]

"""The annotator's rough edges, in Chromium: a deletion in two keys, a live preview with a clean-text mode, Submit
with the rewrite box open, a skip that names its reason, instructions that never cover the segments panel."""
import pytest

from annotate.models import Annotation, AnnotationStatus
from annotate.services import apply_segments
from tests.browser.conftest import log_in, screenshot
from tests.browser.test_annotator import drag_select, open_task
from tests.factories import make_project, make_response, make_user

pytestmark = [pytest.mark.slow, pytest.mark.browser, pytest.mark.django_db(transaction=True)]

TWO_SENTENCES = "There is a red circle. A dog sleeps under it."


def test_an_invented_sentence_is_deleted_in_two_keys_and_chosen_has_no_stray_space(watched):
    """Select the sentence, press a category key, press Backspace: one deletion segment; the clean preview and the
    record's chosen side read "There is a red circle." (the space before the sentence goes with it)."""
    page = watched.page
    annotator, response = open_task(page, TWO_SENTENCES)
    start = TWO_SENTENCES.index("A dog")
    drag_select(page, start, len(TWO_SENTENCES) - 1)
    page.keyboard.press("6")
    page.keyboard.press("Backspace")
    assert page.locator(".rewrite-box").is_hidden()
    assert page.locator("#segments .seg-item").count() == 1
    assert page.locator("#segments .kind").text_content() == "delete"
    page.click("#preview-clean")
    assert page.text_content("#preview") == "There is a red circle."
    screenshot(page, "annotator-delete-clean-preview")
    page.keyboard.press("Control+Enter")
    page.wait_for_selector("#queue-empty:not([hidden])")
    annotation = Annotation.objects.get(task__response=response, annotator=annotator)
    segments = list(annotation.segments.values("start", "end", "category", "replacement"))
    assert segments == [{"start": start, "end": len(TWO_SENTENCES), "category": "other", "replacement": ""}]
    assert apply_segments(TWO_SENTENCES, segments)[0] == "There is a red circle."


def test_the_preview_follows_the_rewrite_while_typing_and_submit_saves_the_open_box(watched):
    """Each keystroke shows in the preview before Enter; Submit with the box open saves the rewrite, then submits."""
    page = watched.page
    annotator, response = open_task(page, "A red circle and a blue square.")
    drag_select(page, 2, 4)  # "red"
    page.keyboard.press("4")
    page.keyboard.type("gr")
    assert page.locator("#preview ins").text_content() == "gr"
    page.keyboard.type("een")
    assert page.locator("#preview ins").text_content() == "green"
    page.click("#preview-clean")
    assert page.text_content("#preview") == "A green circle and a blue square."
    page.click("#preview-changes")
    assert page.locator("#preview del").text_content() == "red"
    page.click("#submit")
    page.wait_for_selector("#queue-empty:not([hidden])")
    annotation = Annotation.objects.get(task__response=response, annotator=annotator)
    assert annotation.status == AnnotationStatus.SUBMITTED
    assert list(annotation.segments.values_list("replacement", flat=True)) == ["green"]


def test_skip_asks_for_a_reason_none_picked_in_advance(watched):
    page = watched.page
    annotator, response = open_task(page)
    page.keyboard.press("Alt+s")
    page.wait_for_selector("#skip-dialog[open]")
    assert page.locator("#skip-form input[name=reason]:checked").count() == 0
    page.click("#skip-form button.primary")
    assert page.locator("#skip-dialog").is_visible()  # refused: no reason yet
    page.check("#skip-form input[value='The question is unclear']")
    page.click("#skip-form button.primary")
    page.wait_for_selector("#queue-empty:not([hidden])")
    annotation = Annotation.objects.get(task__response=response, annotator=annotator)
    assert (annotation.status, annotation.skip_reason) == (AnnotationStatus.SKIPPED, "The question is unclear")


@pytest.mark.parametrize("width", [1400, 420])
def test_open_instructions_never_overlap_the_segments_panel(watched, width):
    """At a wide and a phone width, the open instructions and a segment just made do not overlap (element boxes)."""
    page = watched.page
    page.set_viewport_size({"width": width, "height": 900})
    project = make_project(instructions="Mark every object, colour, count and position the image does not show.\n" * 6)
    annotator = make_user(role="annotator", project=project)
    make_response(project, text="A red circle and a blue square.")
    log_in(page, annotator, then=f"/projects/{project.id}/annotate/")
    page.wait_for_selector("#task:not([hidden])")
    assert page.locator("#instructions").get_attribute("open") is not None
    page.locator("#answer").scroll_into_view_if_needed()
    drag_select(page, 2, 4)
    page.keyboard.press("4")
    page.keyboard.type("green")
    page.keyboard.press("Enter")
    instructions = page.locator("#instructions").bounding_box()
    for panel in ("#segments .seg-item", ".list-panel", "#answer"):
        box = page.locator(panel).first.bounding_box()
        apart = (box["y"] >= instructions["y"] + instructions["height"] or instructions["y"] >= box["y"] + box["height"]
                 or box["x"] >= instructions["x"] + instructions["width"] or instructions["x"] >= box["x"] + box["width"])
        assert apart, (panel, box, instructions)
    screenshot(page, f"annotator-instructions-{width}")


DELETION_CASES = [
    ("It is a circle. It is red.", [(16, 26, "")]),
    ("a big red circle", [(6, 9, "")]),
    ("a big red circle", [(2, 5, ""), (6, 9, "")]),
    ("a b", [(0, 1, ""), (2, 3, "")]),
    ("Red, big circle", [(0, 3, "")]),
    ("a big, red circle", [(2, 5, "")]),
    ("a big red circle", [(2, 5, ""), (6, 6, "tiny ")]),
    ("a big  red circle", [(2, 5, "")]),
    ("one\u3000two three", [(4, 7, "")]),
    ("🐈‍⬛ cats (two) sit.", [(10, 13, "")]),
    ("a big red circle", [(2, 5, "small")]),
]


def test_the_preview_and_the_records_remove_the_same_spaces(watched, live_server):
    """segments.js's correctedText equals training.ddpo.alignment.apply_segments on deletions next to spaces,
    punctuation, other segments and the text's ends."""
    page = watched.page
    page.goto(live_server.url + "/login/")
    cases = [[text, [{"start": s, "end": e, "category": "x", "replacement": r} for s, e, r in spans]]
             for text, spans in DELETION_CASES]
    browser_texts = page.evaluate("""async (cases) => {
        const s = await import("/static/frontend/js/segments.js");
        return cases.map(([text, segments]) => s.correctedText(Array.from(text), segments));
    }""", cases)
    assert browser_texts == [apply_segments(text, segments)[0] for text, segments in cases]

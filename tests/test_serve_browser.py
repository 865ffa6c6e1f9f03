"""`mnist serve`'s page in a real browser: Playwright driving Debian's chromium draws a 7 with
mouse moves and reads the page's answer, clears and draws a 1, undoes, drops a photo; the page
asks nothing of any other origin. Skipped where chromium or Playwright is absent."""

from __future__ import annotations

import base64
import shutil

import pytest

from tests.conftest import real_test_digits
from tests.serving import ONE, SEVEN, answer, as_photo, draw, running_server

pytestmark = pytest.mark.real_data

sync_api = pytest.importorskip("playwright.sync_api", reason="Playwright for Python is absent")
CHROMIUM = shutil.which("chromium")
if CHROMIUM is None:
    pytest.skip("chromium is not installed (apt-get install chromium)", allow_module_level=True)


@pytest.fixture(scope="module")
def browser():
    with sync_api.sync_playwright() as playwright:
        launched = playwright.chromium.launch(
            executable_path=CHROMIUM, headless=True, args=["--no-sandbox"]
        )
        yield launched
        launched.close()


@pytest.fixture
def page(browser, real_checkpoint):
    """The page of a fresh server, and every URL the page asked for (in `page.requested`)."""
    with running_server(real_checkpoint) as base:
        context = browser.new_context(viewport={"width": 900, "height": 640})
        opened = context.new_page()
        opened.requested = []
        opened.on("request", lambda request: opened.requested.append(request.url))
        opened.goto(base + "/")
        opened.base = base
        yield opened
        context.close()


def test_the_page_reads_a_drawn_seven_then_a_drawn_one(page):
    page.wait_for_function(
        "() => !document.getElementById('model').textContent.startsWith('Loading')"
    )
    assert "mlp on mnist" in page.inner_text("#model")
    draw(page, SEVEN)
    assert answer(page) == "7"
    assert page.locator("#top li").count() == 3
    assert page.get_attribute("#seen", "src").startswith("data:image/png;base64,")
    page.click("#clear")
    assert answer(page) == "–"
    assert page.locator("#top li").count() == 0
    draw(page, ONE)
    assert answer(page) == "1"
    assert all(url.startswith(page.base) for url in page.requested), page.requested


def test_undo_takes_back_the_last_stroke(page):
    draw(page, ONE)
    assert answer(page) == "1"
    page.keyboard.press("Control+z")
    assert answer(page) == "–"
    assert page.is_disabled("#undo") and page.is_disabled("#clear")


def test_a_dropped_photo_is_read(page, real_checkpoint):
    (pixels, label), *_ = real_test_digits(real_checkpoint, 1)
    photo = base64.b64encode(as_photo(pixels)).decode("ascii")
    transfer = page.evaluate_handle(
        """([data, name]) => {
            const bytes = Uint8Array.from(atob(data), (c) => c.charCodeAt(0));
            const transfer = new DataTransfer();
            transfer.items.add(new File([bytes], name, { type: "image/png" }));
            return transfer;
        }""",
        [photo, "photo.png"],
    )
    page.dispatch_event("#drop", "drop", {"dataTransfer": transfer})
    assert answer(page) == str(label)
    assert page.inner_text("#status").startswith("photo.png")


def test_the_controls_work_from_the_keyboard(page):
    draw(page, ONE)
    assert answer(page) == "1"
    page.focus("#canvas")  # the drawing area takes focus, then the controls in order
    focused = []
    for _ in range(3):
        page.keyboard.press("Tab")
        focused.append(page.evaluate("() => document.activeElement.id"))
    assert focused == ["undo", "clear", "photo"]
    assert page.get_attribute("#guess", "aria-live") == "polite"
    page.keyboard.press("Shift+Tab")  # back to Clear
    page.keyboard.press("Enter")
    assert answer(page) == "–"


@pytest.mark.parametrize("kind", ["touch", "pen"])
def test_a_finger_or_a_pen_draws_as_the_mouse_does(page, kind):
    """Pointer events of a finger or a pen (with a pressure the page ignores) draw a 1."""
    page.evaluate(
        """([kind, points]) => {
            const canvas = document.getElementById("canvas");
            const box = canvas.getBoundingClientRect();
            const send = (type, [x, y]) => canvas.dispatchEvent(new PointerEvent(type, {
                pointerType: kind, pointerId: 7, isPrimary: true, button: 0, buttons: 1,
                pressure: 0.3, clientX: box.left + x, clientY: box.top + y, bubbles: true,
            }));
            send("pointerdown", points[0]);
            for (const point of points.slice(1)) send("pointermove", point);
            send("pointerup", points[points.length - 1]);
        }""",
        [kind, [(125, 70), (150, 45), *[(150, y) for y in range(50, 240, 10)]]],
    )
    assert answer(page) == "1"

"""The picture of `mnist serve`'s page in the README (docs/serve.png): a real server of
CHECKPOINT, Debian's chromium driven by Playwright, a 7 drawn with mouse moves as the browser
test draws it, and the page photographed once it shows the answer.

    python -m benchmarks.serve_screenshot CHECKPOINT [--out docs/serve.png]
"""

from __future__ import annotations

import argparse
import shutil
import signal
from pathlib import Path

from benchmarks.serve_load import start_server
from mnist_cli.files import write_atomically
from tests.serving import SEVEN, answer, draw


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("checkpoint", type=Path)
    parser.add_argument("--out", type=Path, default=Path("docs/serve.png"))
    arguments = parser.parse_args()
    from playwright.sync_api import sync_playwright

    process, port = start_server(arguments.checkpoint)
    try:
        with sync_playwright() as playwright:
            browser = playwright.chromium.launch(
                executable_path=shutil.which("chromium"), headless=True, args=["--no-sandbox"]
            )
            page = browser.new_page(viewport={"width": 760, "height": 560})
            page.goto(f"http://127.0.0.1:{port}/")
            draw(page, SEVEN)
            print(f"the page reads {answer(page)}")
            page.mouse.move(0, 0)  # no hover on the canvas in the picture
            write_atomically(arguments.out, page.screenshot(full_page=True), "the screenshot")
            browser.close()
    finally:
        process.send_signal(signal.SIGINT)
        process.wait(timeout=60)
    print(f"wrote {arguments.out}")


if __name__ == "__main__":
    main()

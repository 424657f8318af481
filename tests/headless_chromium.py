"""Opens a page in headless Chromium and reports what a person would see.

Talks to Chromium over the DevTools protocol on a pipe (--remote-debugging-pipe:
JSON messages separated by NUL bytes on file descriptors 3 and 4), so no
driver, websocket library or network port is needed. Used by the browser test
of the HTML run report and to take the screenshot in docs/report.md:

    python tests/headless_chromium.py PAGE.html SCREENSHOT.png [HEIGHT [SECTION_ID]]

takes the top HEIGHT pixels of the page, or of the page from that section on.
"""

import base64
import json
import os
import select
import shutil
import subprocess
import sys
import tempfile
import time
from typing import Any

FLAGS = (
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-quic",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--hide-scrollbars",
    "--remote-debugging-pipe",
)
WIDTH = 1280
TIMEOUT_SECONDS = 60

# Evaluated in the page: its sections, their sizes, and every image's natural size.
_INSPECT = """JSON.stringify({
  title: document.title,
  sections: Array.from(document.querySelectorAll('section')).map(s => ({
    id: s.id, heading: (s.querySelector('h2') || {}).textContent || '',
    top: s.getBoundingClientRect().top + window.scrollY,
    height: s.getBoundingClientRect().height})),
  images: Array.from(document.images).map(i => ({
    alt: i.alt, complete: i.complete, naturalWidth: i.naturalWidth,
    naturalHeight: i.naturalHeight})),
  svgs: document.querySelectorAll('svg').length,
  height: document.documentElement.scrollHeight})"""


def find_chromium() -> str | None:
    return shutil.which("chromium") or shutil.which("chromium-browser")


class _Pipe:
    """The DevTools protocol over Chromium's pipe: commands, their results, and events."""

    def __init__(self, process, to_browser: int, from_browser: int):
        self.process = process
        self.to_browser = to_browser
        self.from_browser = from_browser
        self.buffer = b""
        self.next_id = 0
        self.events: list[dict[str, Any]] = []

    def _receive(self, deadline: float) -> dict[str, Any]:
        while b"\0" not in self.buffer:
            remaining = deadline - time.monotonic()
            if remaining <= 0 or self.process.poll() is not None:
                raise RuntimeError("Chromium did not answer in time or exited")
            ready, _, _ = select.select([self.from_browser], [], [], remaining)
            if ready:
                chunk = os.read(self.from_browser, 1 << 20)
                if not chunk:
                    raise RuntimeError("Chromium closed its DevTools pipe")
                self.buffer += chunk
        message, self.buffer = self.buffer.split(b"\0", 1)
        return json.loads(message)

    def call(self, method: str, session: str | None = None, **params) -> dict[str, Any]:
        self.next_id += 1
        message = {"id": self.next_id, "method": method, "params": params}
        if session:
            message["sessionId"] = session
        os.write(self.to_browser, json.dumps(message).encode() + b"\0")
        deadline = time.monotonic() + TIMEOUT_SECONDS
        while True:
            reply = self._receive(deadline)
            if reply.get("id") == self.next_id:
                if "error" in reply:
                    raise RuntimeError(f"{method}: {reply['error']}")
                return reply.get("result", {})
            self.events.append(reply)

    def wait_for(self, method: str) -> dict[str, Any]:
        deadline = time.monotonic() + TIMEOUT_SECONDS
        for event in self.events:
            if event.get("method") == method:
                return event
        while True:
            event = self._receive(deadline)
            self.events.append(event)
            if event.get("method") == method:
                return event


def _console_errors(events: list[dict[str, Any]]) -> list[str]:
    errors = []
    for event in events:
        method, params = event.get("method"), event.get("params", {})
        if method == "Runtime.consoleAPICalled" and params.get("type") in ("error", "assert"):
            errors.append(
                " ".join(
                    str(a.get("value", a.get("description", ""))) for a in params.get("args", [])
                )
            )
        elif method == "Runtime.exceptionThrown":
            errors.append(json.dumps(params.get("exceptionDetails", {}))[:500])
        elif method == "Log.entryAdded" and params.get("entry", {}).get("level") == "error":
            errors.append(params["entry"].get("text", ""))
    return errors


def open_page(
    path: str, screenshot_height: int | None = None, from_section: str | None = None
) -> dict[str, Any]:
    """Loads the file in headless Chromium: {inspection, console_errors, screenshot (PNG)}.

    The screenshot is the whole page, or `screenshot_height` pixels of it from its
    top or from the top of the section whose id is `from_section`.
    """
    chromium = find_chromium()
    if chromium is None:
        raise RuntimeError("chromium is not installed (scripts/ensure-chromium installs it)")
    commands_read, commands_write = os.pipe()
    replies_read, replies_write = os.pipe()

    def use_pipe_fds():  # the child's fd 3 reads commands, fd 4 writes replies
        # Copies first: the pipes may already be fds 3 or 4, and dup2 onto itself
        # would keep them close-on-exec.
        reads, writes = os.dup(commands_read), os.dup(replies_write)
        os.dup2(reads, 3)
        os.dup2(writes, 4)

    with tempfile.TemporaryDirectory(prefix="chromium-profile-") as profile:
        process = subprocess.Popen(  # pylint: disable=subprocess-popen-preexec-fn
            [
                chromium,
                *FLAGS,
                f"--user-data-dir={profile}",
                f"--window-size={WIDTH},900",
                "about:blank",
            ],
            stdin=subprocess.DEVNULL,
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
            close_fds=False,
            preexec_fn=use_pipe_fds,
        )
        os.close(commands_read)
        os.close(replies_write)
        pipe = _Pipe(process, commands_write, replies_read)
        try:
            target = pipe.call("Target.createTarget", url="about:blank")["targetId"]
            session = pipe.call("Target.attachToTarget", targetId=target, flatten=True)["sessionId"]
            for domain in ("Page", "Runtime", "Log"):
                pipe.call(f"{domain}.enable", session)
            pipe.call(
                "Emulation.setDeviceMetricsOverride",
                session,
                width=WIDTH,
                height=900,
                deviceScaleFactor=1,
                mobile=False,
            )
            pipe.call("Page.navigate", session, url="file://" + os.path.abspath(path))
            pipe.wait_for("Page.loadEventFired")
            inspection = json.loads(
                pipe.call("Runtime.evaluate", session, expression=_INSPECT, returnByValue=True)[
                    "result"
                ]["value"]
            )
            top = next((s["top"] for s in inspection["sections"] if s["id"] == from_section), 0)
            height = min(inspection["height"] - top, screenshot_height or inspection["height"])
            shot = pipe.call(
                "Page.captureScreenshot",
                session,
                format="png",
                captureBeyondViewport=True,
                clip=dict(x=0, y=top, width=WIDTH, height=height, scale=1),
            )
            try:
                pipe.call("Browser.close")
            except RuntimeError:
                pass  # the browser may close the pipe before it answers
            process.wait(timeout=TIMEOUT_SECONDS)
        finally:
            if process.poll() is None:
                process.kill()
                process.wait()
            os.close(commands_write)
            os.close(replies_read)
    return dict(
        inspection=inspection,
        console_errors=_console_errors(pipe.events),
        screenshot=base64.b64decode(shot["data"]),
    )


if __name__ == "__main__":
    result = open_page(
        sys.argv[1],
        int(sys.argv[3]) if len(sys.argv) > 3 else None,
        sys.argv[4] if len(sys.argv) > 4 else None,
    )
    with open(sys.argv[2], "wb") as out:
        out.write(result["screenshot"])
    print(
        json.dumps(
            dict(
                result["inspection"],
                images=len(result["inspection"]["images"]),
                console_errors=result["console_errors"],
            ),
            indent=1,
        )
    )

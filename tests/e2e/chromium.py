"""Open a local HTML file in headless Chromium and report what a person's browser would see.

A stdlib DevTools client over --remote-debugging-pipe (fd 3: commands in, fd 4: replies and events out,
NUL-separated JSON). Chromium runs with networking cut off (a dead proxy, every host name unresolvable),
and every request the page starts is recorded, so "loads without the network" is observed, not assumed.
"""

from __future__ import annotations

import base64
import contextlib
import json
import os
import shutil
import subprocess
import tempfile
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

BINARIES = ("chromium", "chromium-headless-shell", "chromium-browser", "google-chrome")

# Runs inside the page after load: every <img> (decoded or not), the sections, the link.
PROBE = """JSON.stringify({
  images: Array.from(document.images).map(i => ({alt: i.alt, complete: i.complete,
          width: i.naturalWidth, height: i.naturalHeight, scheme: i.src.split(':')[0]})),
  sections: Array.from(document.querySelectorAll('section')).map(s => ({id: s.id,
            title: s.querySelector('h2').textContent, order: Number(s.dataset.order),
            text: s.innerText.length, tables: s.querySelectorAll('table').length})),
  scripts: document.scripts.length,
  title: document.title,
  link: (document.getElementById('mlflow-link') || {}).href || null,
  resources: performance.getEntriesByType('resource').map(r => r.name).filter(n => !n.startsWith('data:')),
})"""


def find_chromium() -> str | None:
    for name in BINARIES:
        found = shutil.which(name)
        if found:
            return found
    return None


@dataclass
class PageView:
    images: list[dict[str, Any]]
    sections: list[dict[str, Any]]
    scripts: int
    title: str
    link: str | None
    resources: list[str]
    requests: list[str]  # every URL the page asked for, the document and its data: URIs left out
    screenshot: bytes


class _Pipe:
    def __init__(self, binary: str, profile: str) -> None:
        to_chrome_r, self._to_chrome = os.pipe()
        self._from_chrome, from_chrome_w = os.pipe()

        def wire() -> None:  # in the child: its fd 3 reads our commands, its fd 4 writes replies
            high_r, high_w = os.dup(to_chrome_r), os.dup(from_chrome_w)
            os.dup2(high_r, 3)
            os.dup2(high_w, 4)

        self.proc = subprocess.Popen(
            [binary, "--headless", "--no-sandbox", "--disable-gpu", "--remote-debugging-pipe",
             f"--user-data-dir={profile}", "--no-first-run", "--disable-extensions",
             "--disable-background-networking", "--disable-component-update", "--disable-sync",
             "--proxy-server=127.0.0.1:9", "--host-resolver-rules=MAP * ~NOTFOUND",
             "--window-size=1280,900", "about:blank"],
            preexec_fn=wire, pass_fds=(3, 4), stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
        )  # fmt: skip
        os.close(to_chrome_r)
        os.close(from_chrome_w)
        self._buffer = b""
        self._next_id = 0
        self.events: list[dict[str, Any]] = []

    def send(self, method: str, params: dict[str, Any] | None = None, session: str | None = None) -> Any:
        self._next_id += 1
        message: dict[str, Any] = {"id": self._next_id, "method": method, "params": params or {}}
        if session:
            message["sessionId"] = session
        os.write(self._to_chrome, json.dumps(message).encode() + b"\0")
        while True:
            reply = self._read()
            if reply.get("id") == self._next_id:
                if "error" in reply:
                    raise RuntimeError(f"{method}: {reply['error']}")
                return reply.get("result", {})
            self.events.append(reply)

    def wait_event(self, method: str, timeout: float) -> dict[str, Any]:
        deadline = time.monotonic() + timeout
        seen = len(self.events)
        while time.monotonic() < deadline:
            for event in self.events[seen:]:
                if event.get("method") == method:
                    return event
            seen = len(self.events)
            self.events.append(self._read())
        raise TimeoutError(f"no {method} within {timeout}s")

    def _read(self) -> dict[str, Any]:
        while b"\0" not in self._buffer:
            chunk = os.read(self._from_chrome, 1 << 20)
            if not chunk:
                raise RuntimeError("chromium closed the DevTools pipe")
            self._buffer += chunk
        message, _, self._buffer = self._buffer.partition(b"\0")
        return json.loads(message)

    def close(self) -> None:
        with contextlib.suppress(Exception):
            self.send("Browser.close")
        try:
            self.proc.wait(timeout=10)
        except subprocess.TimeoutExpired:
            self.proc.kill()
            self.proc.wait()
        os.close(self._to_chrome)
        os.close(self._from_chrome)


def view(path: Path, *, binary: str, timeout: float = 30) -> PageView:
    """Load `path` (file://) in a fresh headless Chromium without network; probe it; screenshot it."""
    url = path.resolve().as_uri()
    with tempfile.TemporaryDirectory(prefix="mlscale-chromium-") as profile:
        pipe = _Pipe(binary, profile)
        try:
            target = pipe.send("Target.createTarget", {"url": "about:blank"})["targetId"]
            session = pipe.send("Target.attachToTarget", {"targetId": target, "flatten": True})["sessionId"]
            pipe.send("Network.enable", session=session)
            pipe.send("Page.enable", session=session)
            pipe.send("Page.navigate", {"url": url}, session=session)
            pipe.wait_event("Page.loadEventFired", timeout)
            probe = pipe.send(
                "Runtime.evaluate", {"expression": PROBE, "returnByValue": True}, session=session
            )
            found = json.loads(probe["result"]["value"])
            shot = pipe.send("Page.captureScreenshot", {"format": "png", "captureBeyondViewport": True},
                             session=session)  # fmt: skip
        finally:
            pipe.close()
    requests = [
        e["params"]["request"]["url"]
        for e in pipe.events
        if e.get("method") == "Network.requestWillBeSent"
        and e["params"]["request"]["url"] != url
        and not e["params"]["request"]["url"].startswith("data:")  # decoded in place, not fetched
    ]
    return PageView(**found, requests=requests, screenshot=base64.b64decode(shot["data"]))

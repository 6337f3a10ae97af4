"""One HTTP request at a time, and what the benchmark checks in the answers."""

from __future__ import annotations

import http.client
import subprocess
import time
import xml.etree.ElementTree as ET
from dataclasses import dataclass

from feedsvc.articles import normalize_tag
from feedsvc.urls import feed_path

FEED_ITEMS = 20
"""Items in a feed page (feedsvc's default ``FEEDSVC_FEED_ITEMS``)."""


@dataclass(frozen=True)
class Reply:
    status: int
    headers: dict[str, str]  # names lower-cased
    body: bytes
    seconds: float


def get(port: int, path: str, headers: dict[str, str] | None = None, timeout: float = 30) -> Reply:
    """GET on a fresh connection to 127.0.0.1, timed from connect to the last byte."""
    started = time.perf_counter()
    connection = http.client.HTTPConnection("127.0.0.1", port, timeout=timeout)
    try:
        connection.request("GET", path, headers=headers or {})
        response = connection.getresponse()
        body = response.read()
        return Reply(
            response.status,
            {k.lower(): v for k, v in response.getheaders()},
            body,
            time.perf_counter() - started,
        )
    finally:
        connection.close()


def wait_for(port: int, path: str, process: subprocess.Popen[bytes], limit: float = 120) -> Reply:
    """Poll until ``path`` answers 200; fail if the process dies or time runs out."""
    deadline = time.monotonic() + limit
    while time.monotonic() < deadline:
        if process.poll() is not None:
            raise RuntimeError(f"server exited with {process.returncode} before answering")
        try:
            reply = get(port, path, timeout=limit)
            if reply.status == 200:
                return reply
        except OSError:
            pass
        time.sleep(0.01)
    raise RuntimeError(f"no 200 from :{port}{path} within {limit}s")


def tag_feed_path(label: str) -> str:
    """The URL path of a tag's RSS feed, percent-encoded."""
    tag = normalize_tag(label)
    if tag is None:
        raise ValueError(f"{label!r} is not a tag")
    return feed_path(tag.key, "rss")


def check_feed(body: bytes) -> int:
    """Parse an RSS body; return its item count (raises on malformed XML)."""
    root = ET.fromstring(body)
    if root.tag != "rss":
        raise ValueError(f"root element is {root.tag!r}, not rss")
    return len(root.findall("./channel/item"))


def item_titles(body: bytes) -> list[str]:
    return [t.text or "" for t in ET.fromstring(body).findall("./channel/item/title")]


def item_slugs(body: bytes) -> list[str]:
    links = [e.text or "" for e in ET.fromstring(body).findall("./channel/item/link")]
    return [link.rsplit("/articles/", 1)[-1] for link in links]


def retitled(text: str, suffix: str) -> str:
    """Article text with ``suffix`` added to its title (the first block after front matter)."""
    blocks = text.split("\n\n")
    index = next(i for i, b in enumerate(blocks) if b.strip() and not b.startswith("---"))
    blocks[index] += suffix
    return "\n\n".join(blocks)

"""WebSub: feeds advertise the hubs, and each change is published to them.

The hub is a real one (Flask-WebSub's, ``tests/system/websub_hub.py``) in its own process;
the subscribers are real HTTP callbacks that the hub verifies and delivers to.
"""

from __future__ import annotations

import json
import subprocess
import sys
import threading
import urllib.parse
import urllib.request
from collections.abc import Callable, Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

import feedparser
import pytest

from bench.processes import free_port
from tests.conftest import ROOT, WriteArticle, wait_until
from tests.system.conftest import LiveServer


class Subscriber:
    """Callbacks at ``/<name>`` that confirm any subscription and keep what is delivered."""

    def __init__(self) -> None:
        self.received: dict[str, list[bytes]] = {}
        self.lock = threading.Lock()
        subscriber = self

        class Handler(BaseHTTPRequestHandler):
            def do_GET(self) -> None:
                query = urllib.parse.parse_qs(urllib.parse.urlsplit(self.path).query)
                challenge = query.get("hub.challenge", [""])[0].encode()
                self.send_response(200)
                self.send_header("Content-Length", str(len(challenge)))
                self.end_headers()
                self.wfile.write(challenge)

            def do_POST(self) -> None:
                body = self.rfile.read(int(self.headers.get("Content-Length", 0)))
                with subscriber.lock:
                    subscriber.received.setdefault(self.path, []).append(body)
                self.send_response(200)
                self.send_header("Content-Length", "0")
                self.end_headers()

            def log_message(self, *args: Any) -> None:
                pass

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.url = f"http://127.0.0.1:{self.server.server_address[1]}"
        threading.Thread(target=self.server.serve_forever, daemon=True).start()

    def bodies(self, name: str) -> list[bytes]:
        with self.lock:
            return list(self.received.get(f"/{name}", []))


@pytest.fixture
def hub(tmp_path: Path) -> Iterator[str]:
    """A Flask-WebSub hub on a loopback port; its URL."""
    port = free_port()
    log = (tmp_path / "hub.log").open("ab")
    process = subprocess.Popen(
        [sys.executable, "-m", "tests.system.websub_hub", str(port), str(tmp_path / "hub.sqlite")],
        cwd=ROOT,
        stdout=log,
        stderr=subprocess.STDOUT,
    )
    log.close()
    base = f"http://127.0.0.1:{port}"

    def answers() -> bool:
        try:
            with urllib.request.urlopen(f"{base}/published", timeout=2):
                return True
        except OSError:
            return process.poll() is not None  # let the assertion below say it died

    wait_until(answers, 30, "the hub")
    assert process.poll() is None, (tmp_path / "hub.log").read_text()
    yield f"{base}/hub"
    process.terminate()
    process.wait(timeout=10)


def subscribe(hub: str, topic: str, callback: str) -> None:
    data = urllib.parse.urlencode(
        {"hub.mode": "subscribe", "hub.topic": topic, "hub.callback": callback}
    ).encode()
    with urllib.request.urlopen(urllib.request.Request(hub, data=data), timeout=10) as answer:
        assert answer.status == 202


def published(hub: str) -> list[list[str]]:
    with urllib.request.urlopen(hub.replace("/hub", "/published"), timeout=5) as answer:
        found: list[list[str]] = json.load(answer)
        return found


def websub_status(server: LiveServer) -> list[dict[str, Any]]:
    status: list[dict[str, Any]] = json.loads(server.get("/healthz").body).get("websub", [])
    return status


def test_subscriber_of_the_edited_tag_gets_the_new_feed(
    write_article: WriteArticle, live_server: Callable[..., LiveServer], hub: str
) -> None:
    write_article("2025-01-01-a-one.txt", title="Alpha one", keywords="alpha")
    write_article("2025-01-02-b-one.txt", title="Beta one", keywords="beta")
    server = live_server(WEBSUB_HUBS=hub)
    subscriber = Subscriber()
    subscribe(hub, f"{server.url}/tags/alpha/feed.atom", f"{subscriber.url}/alpha")
    subscribe(hub, f"{server.url}/tags/beta/feed.atom", f"{subscriber.url}/beta")

    write_article("2025-01-01-a-one.txt", title="Alpha one, corrected", keywords="alpha")
    wait_until(lambda: subscriber.bodies("alpha"), 15, "the delivery to alpha's subscriber")
    wait_until(
        lambda: all(s["sent"] and not s["pending"] for s in websub_status(server)),
        10,
        "the publish",
    )
    delivered = feedparser.parse(subscriber.bodies("alpha")[-1])
    assert [entry.title for entry in delivered.entries] == ["Alpha one, corrected"]
    assert subscriber.bodies("beta") == []
    # One request naming exactly the affected topics: the site's, the tag's and the
    # author's feeds (the site author's: the article names none).
    topics = {
        f"{server.url}{prefix}feed.{fmt}"
        for prefix in ("/", "/tags/alpha/", "/authors/feedsvc-newsroom/")
        for fmt in ("rss", "atom", "json")
    }
    assert [set(each) for each in published(hub)] == [topics]


def test_feeds_advertise_the_hubs_and_themselves(
    write_article: WriteArticle, live_server: Callable[..., LiveServer]
) -> None:
    for n in range(3):
        write_article(f"2025-01-0{n + 1}-a-{n}.txt", title=f"Alpha {n}", keywords="alpha")
    hubs = ["https://hub.example/one", "http://127.0.0.1:9/two"]
    server = live_server(WEBSUB_HUBS=" ".join(hubs))
    for path in ("/tags/alpha/feed.atom", "/tags/alpha/feed.rss", "/feed.json"):
        response = server.get(path)
        topic = f"{server.url}{path}"
        links = response.getheader("Link")
        for hub in hubs:
            assert f'<{hub}>; rel="hub"' in links
        assert f'<{topic}>; rel="self"' in links
        if path.endswith(".json"):
            document = json.loads(response.body)
            assert document["hubs"] == [{"type": "WebSub", "url": hub} for hub in hubs]
            assert document["feed_url"] == topic
            continue
        feed = feedparser.parse(response.body).feed
        assert [link.href for link in feed.links if link.rel == "hub"] == hubs
        assert [link.href for link in feed.links if link.rel == "self"] == [topic]
    for path in ("/tags/alpha/feed.atom?limit=1&page=2", "/feed.rss?limit=2"):
        response = server.get(path)
        assert response.status == 200
        assert response.getheader("Link") is None, path
        links = feedparser.parse(response.body).feed.links
        assert [link for link in links if link.rel == "hub"] == []


def test_feeds_name_no_hub_without_one(
    write_article: WriteArticle, live_server: Callable[..., LiveServer]
) -> None:
    write_article("a.txt", keywords="alpha")
    server = live_server()
    response = server.get("/tags/alpha/feed.atom")
    assert response.getheader("Link") is None
    assert "hubs" not in json.loads(server.get("/feed.json").body)
    assert "purge" not in json.loads(server.get("/healthz").body)

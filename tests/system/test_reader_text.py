"""Titles and standfirsts exactly as written, read by the clients the suite can run over
HTTP from the real server: rss-parser and feed-extractor (Node), sfeed and newsboat
(Debian), each in every format it reads. Where a client loses text whatever the feed
says, the loss is written down here, so a change in it shows."""

from __future__ import annotations

import html
import re
import shutil
import sqlite3
import subprocess
from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.conftest import article_writer, shared_articles_dir
from tests.system.conftest import LiveServer, serving
from tests.system.test_readers import node_read
from tests.unit.test_reader_text import CASES, write_cases

TITLES = {f"Title {n}: {text}" for n, text in enumerate(CASES)}
STANDFIRSTS = {f"Standfirst {n}: {text}" for n, text in enumerate(CASES)}


def text_of(fragment: str) -> str:
    """The text a reader shows of HTML: tags dropped, entities decoded."""
    return html.unescape(re.sub(r"<[^>]*>", "", fragment))


def standfirst_of(content: str) -> str:
    """The standfirst that leads an item's HTML content, as text."""
    return text_of(content.split("</p>", 1)[0])


@pytest.fixture(scope="module")
def server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[LiveServer]:
    folder = shared_articles_dir(tmp_path_factory, "matrix")
    write_cases(
        article_writer(folder),
        caption="Zürich & São Paulo | Image: Zoë Brontë/AFP",
        front={"image": "/pictures/x.jpg"},
    )
    with serving(folder) as running:
        yield running


@pytest.mark.parametrize("fmt", ["rss", "atom"])
def test_rss_parser_shows_titles_and_standfirsts_as_written(server: LiveServer, fmt: str) -> None:
    path = f"/feed.{fmt}?limit=50"
    items = node_read(server, path)[path]["rssParser"]["items"]
    assert {item["title"] for item in items} == TITLES
    # RSS: the description's snippet; Atom: the summary (text).
    shown = {(item["snippet"] if fmt == "rss" else item["summary"]) for item in items}
    assert {text.split("\n")[0] for text in shown} == STANDFIRSTS
    assert {standfirst_of(item["content"]) for item in items} == STANDFIRSTS


@pytest.mark.parametrize("fmt", ["rss", "atom", "json"])
def test_feed_extractor_shows_titles_as_written(server: LiveServer, fmt: str) -> None:
    """Its descriptions are not checked: it decodes entities before it strips tags, so it
    drops every ``<word>`` of a text whatever the format (a plain-text JSON summary too)."""
    path = f"/feed.{fmt}?limit=50"
    items = node_read(server, path)[path]["feedExtractor"]["items"]
    # An Atom title it decodes once more, whatever its type says: a written "&amp;"
    # or "&nbsp;" is shown as the character.
    expected = {html.unescape(title) for title in TITLES} if fmt == "atom" else TITLES
    assert {item["title"] for item in items} == expected


def sfeed_read(body: bytes) -> list[list[str]]:
    sfeed = shutil.which("sfeed")
    assert sfeed, "sfeed is required (scripts/test installs it)"
    done = subprocess.run([sfeed], input=body, capture_output=True, check=True, timeout=30)
    # Fields: time, title, link, content (\\n \\t \\\\ escaped), content type, id, ...
    return [line.split("\t") for line in done.stdout.decode().splitlines()]


@pytest.mark.parametrize("fmt", ["rss", "atom"])
def test_sfeed_shows_titles_and_standfirsts_as_written(server: LiveServer, fmt: str) -> None:
    rows = sfeed_read(server.get(f"/feed.{fmt}?limit=50").body)
    assert {row[1] for row in rows} == TITLES
    assert {row[4] for row in rows} == {"html"}
    assert {standfirst_of(row[3].replace("\\n", "\n")) for row in rows} == STANDFIRSTS


@pytest.mark.parametrize("fmt", ["rss", "atom"])
def test_newsboat_shows_titles_and_standfirsts_as_written(
    server: LiveServer, fmt: str, tmp_path: Path
) -> None:
    newsboat = shutil.which("newsboat")
    assert newsboat, "newsboat is required (scripts/test installs it)"
    (tmp_path / "urls").write_text(f"{server.url}/feed.{fmt}?limit=50\n")
    (tmp_path / "config").write_text("")
    subprocess.run(
        [newsboat, "-u", "urls", "-C", "config", "-c", "cache.db", "-x", "reload"],
        cwd=tmp_path,
        env={"HOME": str(tmp_path), "PATH": "/usr/bin:/bin", "LANG": "C.UTF-8"},
        check=True,
        capture_output=True,
        timeout=60,
    )
    with sqlite3.connect(tmp_path / "cache.db") as cache:
        rows = cache.execute("SELECT title, content FROM rss_item").fetchall()
    assert {title for title, _ in rows} == TITLES
    assert {standfirst_of(content) for _, content in rows} == STANDFIRSTS


def test_text_taken_out_of_the_content_keeps_caption_and_credit_apart(server: LiveServer) -> None:
    """Readers that make a snippet of the HTML content (rss-parser of Atom, feed-extractor
    of JSON Feed) keep the caption's last word and the credit apart."""
    seen = node_read(server, "/feed.atom?limit=50", "/feed.json?limit=50")
    snippets = [item["snippet"] for item in seen["/feed.atom?limit=50"]["rssParser"]["items"]]
    snippets += [i["description"] for i in seen["/feed.json?limit=50"]["feedExtractor"]["items"]]
    assert len(snippets) == 2 * len(CASES)
    for snippet in snippets:
        assert "São Paulo" in snippet and "Image: Zoë Brontë/AFP" in snippet, snippet
        assert "PauloImage" not in snippet, snippet

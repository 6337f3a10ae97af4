"""Combinations of tags: one canonical spelling, bounded, answered from the index."""

from __future__ import annotations

import random
import sqlite3
import time
from email.utils import parsedate_to_datetime
from pathlib import Path
from xml.etree import ElementTree

import feedparser
import pytest
from flask import Flask

import feedsvc.store
from feedsvc.app import create_app
from feedsvc.articles import normalize_tag
from feedsvc.combinations import CombinationError, UnknownTag, parse, read
from feedsvc.indexer import Change
from feedsvc.notify import Notifier
from feedsvc.settings import Settings
from feedsvc.urls import FEED_FORMATS, feed_path
from tests.conftest import WriteArticle

KNOWN = {"syria", "refugees", "climate", "energy", "science", "space", "são-paulo"}


def key_of(name: str) -> str | None:
    tag = normalize_tag(name)
    return tag.key if tag is not None and tag.key in KNOWN else None


@pytest.mark.parametrize(
    ("spelling", "canonical"),
    [
        ("syria+refugees", "refugees+syria"),
        ("Refugees+SYRIA", "refugees+syria"),
        ("syria refugees", "refugees+syria"),  # a + decoded as a space
        (" syria + refugees ", "refugees+syria"),  # a person's spaces
        ("climate, energy+ -space", "climate,energy+-space"),
        ("energy,climate", "climate,energy"),
        ("science+-space", "science+-space"),
        ("-space+science", "science+-space"),
        ("syria+syria", "syria"),
        ("climate,climate", "climate"),
        ("climate+climate,energy", "climate"),  # the OR says nothing more
        ("climate,energy+-climate", "energy+-climate"),  # a NOT's tag adds nothing to an OR
        ("climate+-climate", "climate+-climate"),  # matches nothing, and says so
        ("energy,climate+-space+syria", "climate,energy+syria+-space"),
        ("são paulo+syria", None),  # "são" is no tag: an unknown tag
        ("São-Paulo+Syria", "syria+são-paulo"),  # code point order
    ],
)
def test_every_spelling_has_one_canonical_text(spelling: str, canonical: str | None) -> None:
    if canonical is None:
        with pytest.raises(UnknownTag):
            read(spelling, key_of, 4)
        return
    combination = read(spelling, key_of, 4)
    assert (combination.single or combination.text) == canonical
    if combination.single is None:
        assert parse(combination.text) == combination


@pytest.mark.parametrize(
    ("spelling", "message"),
    [
        ("-space", "a NOT (-) needs a tag to take from"),
        ("-space+-science", "a NOT (-) needs a tag to take from"),
        ("syria++refugees", "an empty term"),
        ("syria+", "an empty term"),
        ("climate,,energy", "an OR (,) joins tags"),
        ("climate,-energy", "an OR (,) joins tags: no empty one, and no NOT"),
        ("-climate,energy+space", "a NOT (-) takes one tag"),
        ("a+b+c+d+e", "at most 4 tags"),
        ("a,b,c+d,e", "at most 4 tags"),
        ("x" * 1001, "at most 1000 characters"),
    ],
)
def test_a_combination_that_cannot_be_says_why(spelling: str, message: str) -> None:
    with pytest.raises(CombinationError, match=message.replace("(", r"\(").replace(")", r"\)")):
        read(spelling, key_of, 4)


def test_titles_say_what_the_feed_is() -> None:
    def label(key: str) -> str:
        return key.title()

    def title(spelling: str) -> str:
        return read(spelling, key_of, 4).title(label)

    assert title("syria+refugees") == "Refugees + Syria"
    assert title("climate,energy") == "Climate or Energy"
    assert title("science+-space") == "Science, not Space"
    assert title("climate,energy+syria") == "(Climate or Energy) + Syria"


# Served ------------------------------------------------------------------------------

TAGS = ["Syria", "Refugees", "Climate", "Energy", "Science", "Space"]


@pytest.fixture
def app(write_article: WriteArticle, articles_dir: Path) -> Flask:
    rng = random.Random(5)
    for n in range(60):
        tags = rng.sample(TAGS, rng.randint(1, 3))
        day = 1 + n % 28
        write_article(
            f"2026-01-{day:02d}-a{n:02d}.txt", title=f"Article {n}", keywords=", ".join(tags)
        )
    return create_app({"ARTICLES_DIR": str(articles_dir), "WATCH": False, "FEED_ITEMS": 7})


def all_items(app: Flask, path: str) -> list[tuple[str, set[str]]]:
    """Every item of a feed and its later pages: id and tag keys."""
    client = app.test_client()
    items = []
    url: str | None = path
    while url is not None:
        answer = client.get(url)
        assert answer.status_code == 200, (url, answer.data)
        parsed = feedparser.parse(answer.data)
        items += [(e.id, {t.term for t in e.get("tags", [])}) for e in parsed.entries]
        following = [link.href for link in parsed.feed.links if link.rel == "next"]
        url = following[0].removeprefix("http://127.0.0.1:8000") if following else None
    return items


def test_a_combination_feed_holds_exactly_the_matching_items(app: Flask) -> None:
    everything = dict(all_items(app, "/feed.atom"))
    cases = {
        "refugees+syria": lambda tags: {"syria", "refugees"} <= tags,
        "climate,energy": lambda tags: bool({"climate", "energy"} & tags),
        "science+-space": lambda tags: "science" in tags and "space" not in tags,
        "climate,energy+-syria": lambda tags: (
            bool({"climate", "energy"} & tags) and "syria" not in tags
        ),
    }
    for scope, matches in cases.items():
        found = all_items(app, f"/tags/{scope}/feed.atom")
        expected = [item for item, tags in everything.items() if matches(tags)]
        assert [item for item, _ in found] == expected, scope  # same ids, same order
        assert expected, scope


def test_other_spellings_redirect_and_bad_ones_are_told(app: Flask) -> None:
    client = app.test_client()
    moved = client.get("/tags/Syria+Refugees/feed.rss?limit=3")
    assert moved.status_code == 301
    assert moved.headers["Location"] == "http://127.0.0.1:8000/tags/refugees+syria/feed.rss?limit=3"
    spaced = client.get("/tags/syria%20refugees/feed.json")
    assert spaced.headers["Location"].endswith("/tags/refugees+syria/feed.json")
    single = client.get("/tags/syria+syria/feed.atom")
    assert single.headers["Location"].endswith("/tags/syria/feed.atom")
    assert (
        client.get("/tags/syria+refugees/rss.xml")
        .headers["Location"]
        .endswith("/tags/refugees+syria/feed.rss")
    )
    for path, status, message in [
        ("/tags/syria+nowhere/feed.rss", 404, "no tag 'nowhere'\n"),
        ("/tags/-space/feed.rss", 400, "a NOT (-) needs a tag to take from: add one with +\n"),
        ("/tags/a+b+c+d+e/feed.rss", 400, "a combination names at most 4 tags\n"),
        ("/tags/syria++space/feed.rss", 400, "a combination has an empty term (two + in a row?)\n"),
    ]:
        answer = client.get(path)
        assert (answer.status_code, answer.data.decode()) == (status, message), path
        assert answer.mimetype == "text/plain"


def test_an_empty_combination_is_a_valid_feed_and_a_later_page_a_404(app: Flask) -> None:
    client = app.test_client()
    empty = client.get("/tags/space+-space/feed.atom")
    assert empty.status_code == 200
    assert feedparser.parse(empty.data).entries == []
    ElementTree.fromstring(empty.data)
    past = client.get("/tags/space+-space/feed.atom?page=2")
    assert (past.status_code, past.data) == (404, b"page 2 is past the last page\n")


def test_a_combination_is_named_by_each_of_its_tags_and_revalidates(app: Flask) -> None:
    client = app.test_client()
    first = client.get("/tags/climate,energy+-syria/feed.rss")
    assert first.headers["xkey"] == "all tag:climate tag:energy tag:syria"
    assert first.headers["Cache-Tag"] == "all,tag:climate,tag:energy,tag:syria"
    again = client.get(
        "/tags/climate,energy+-syria/feed.rss", headers={"If-None-Match": first.headers["ETag"]}
    )
    assert again.status_code == 304
    assert again.headers["Last-Modified"] == first.headers["Last-Modified"]


def test_pages_headlines_and_embeds_take_a_combination(app: Flask) -> None:
    client = app.test_client()
    feed = feedparser.parse(client.get("/tags/refugees+syria/feed.atom").data)
    assert feed.feed.title == "feedsvc news: Refugees + Syria"
    page = client.get("/tags/refugees+syria/")
    assert page.status_code == 200
    text = page.data.decode()
    assert "<h1>Refugees + Syria</h1>" in text
    assert "/tags/refugees+syria/feed.atom" in text and " articles · " not in text
    assert client.get("/tags/Syria+Refugees/").headers["Location"].endswith("/tags/refugees+syria/")
    headlines = client.get("/tags/refugees+syria/headlines.json?limit=3").get_json()
    assert headlines["link"] == "http://127.0.0.1:8000/tags/refugees+syria/"
    assert [h["title"] for h in headlines["items"]] == [e.title for e in feed.entries[:3]]
    assert headlines["label"] == "Refugees + Syria"
    moved = client.get("/embed/tags/syria+refugees")
    assert moved.headers["Location"].endswith("/embed/tags/refugees+syria")
    assert client.get("/embed/tags/refugees+syria").status_code == 200
    address = "http://127.0.0.1:8000/tags/refugees%2Bsyria/"
    oembed = client.get("/oembed", query_string={"url": address}).get_json()
    assert "/embed/tags/refugees+syria?limit=5" in oembed["html"]
    assert oembed["title"] == "feedsvc news: Refugees + Syria"
    opml = ElementTree.fromstring(client.get("/feeds.opml?tags=syria+refugees,climate").data)
    listed = [o.get("xmlUrl") for o in opml.iter("outline") if o.get("xmlUrl")]
    assert listed == [
        "http://127.0.0.1:8000/tags/refugees+syria/feed.atom",
        "http://127.0.0.1:8000/tags/climate/feed.atom",
    ]
    either = ElementTree.fromstring(client.get("/feeds.opml?tag=energy,climate&tag=space").data)
    listed = [o.get("xmlUrl") for o in either.iter("outline") if o.get("xmlUrl")]
    assert listed == [
        "http://127.0.0.1:8000/tags/climate,energy/feed.atom",
        "http://127.0.0.1:8000/tags/space/feed.atom",
    ]
    bad = client.get("/feeds.opml?tags=-syria")
    assert (bad.status_code, bad.data) == (
        400,
        b"tags: a NOT (-) needs a tag to take from: add one with +\n",
    )


def test_a_combination_page_pages_without_a_count(
    write_article: WriteArticle, articles_dir: Path
) -> None:
    for n in range(5):
        write_article(f"2026-02-0{n + 1}-x{n}.txt", title=f"X {n}", keywords="Syria, Refugees")
    config = {"ARTICLES_DIR": str(articles_dir), "WATCH": False, "PAGE_ITEMS": 2}
    client = create_app(config).test_client()
    first = client.get("/tags/refugees+syria/").data.decode()
    assert 'rel="next" href="http://127.0.0.1:8000/tags/refugees+syria/?page=2"' in first
    last = client.get("/tags/refugees+syria/?page=3").data.decode()
    assert "Page 3</span>" in last and 'rel="next"' not in last and 'rel="prev"' in last
    past = client.get("/tags/refugees+syria/?page=4")
    assert (past.status_code, past.data) == (404, b"page 4 is past the last page\n")


def test_a_combination_reads_a_bounded_range_of_each_tag(
    app: Flask, monkeypatch: pytest.MonkeyPatch
) -> None:
    store = app.extensions["feedsvc"].store
    index = store.begin()
    try:
        everything = index.matching("science+-space", 100)
        assert index.matching("space+-space", 100) == []  # a term and its NOT
        newest = {article.slug for article in index.newest("science", 3)}
        assert len(everything) > len([row for row in everything if row[1] in newest]) > 0
        monkeypatch.setattr(feedsvc.store, "COMBINATION_ROWS", 3)
        # Only what the 3 newest science articles hold: an older match is not read.
        bounded = index.matching("science+-space", 100)
        assert bounded == [row for row in everything if row[1] in newest]
    finally:
        index.close()


def test_hubs_hear_of_the_combinations_someone_follows(app: Flask, tmp_path: Path) -> None:
    client = app.test_client()
    for path in (
        "/tags/refugees+syria/feed.rss",  # a first page: someone follows it
        "/tags/climate,energy/feed.atom?page=2",  # a later page: no topic
        "/tags/science+-space/feed.json?limit=3",  # a shortened feed: no topic
        "/tags/syria/feed.rss",  # one tag: a topic anyway
    ):
        assert client.get(path).status_code == 200
    shelf = app.extensions["feedsvc"].cache.shelf
    assert shelf.followed() == ["refugees+syria"]
    settings = Settings.from_mapping(
        {"WEBSUB_HUBS": "http://127.0.0.1:9/hub", "STATE_DIR": str(tmp_path)}
    )
    notifier = Notifier(settings, lambda: ["refugees+syria", "climate,energy+-space"])
    notifier.changed(Change(frozenset({"", "syria"})))  # not started: the topics wait
    base = settings.base_url
    topics = {
        f"{base}{feed_path(scope, fmt)}"
        for scope in ("", "syria", "refugees+syria")
        for fmt in FEED_FORMATS
    }
    assert notifier.hubs[0]._pending == topics
    notifier.changed(Change(frozenset({"space"})))
    assert f"{base}/tags/climate,energy+-space/feed.atom" in notifier.hubs[0]._pending


def test_the_shelf_keeps_combinations_only_as_variants(app: Flask) -> None:
    client = app.test_client()
    for path in ("/tags/syria/feed.rss", "/tags/refugees+syria/feed.rss", "/tags/space/feed.atom"):
        assert client.get(path).status_code == 200
    shelf = app.extensions["feedsvc"].cache.shelf
    with sqlite3.connect(Path(shelf.path)) as database:
        kept = dict(database.execute("SELECT scope, pinned FROM representations"))
    # Made-up URLs make room for one another, never for a tag's own feed.
    assert kept == {"syria": 1, "refugees+syria": 0, "space": 1}


def test_a_combination_version_moves_with_its_tags_only(
    write_article: WriteArticle, articles_dir: Path
) -> None:
    write_article("2026-03-01-a.txt", title="A", keywords="Syria, Refugees")
    write_article("2026-03-02-b.txt", title="B", keywords="Climate")
    app = create_app({"ARTICLES_DIR": str(articles_dir), "WATCH": False})
    site = app.extensions["feedsvc"]
    before = site.store.version("refugees+syria")
    assert before == site.store.version("refugees+syria")  # remembered
    write_article("2026-03-02-b.txt", title="B, edited", keywords="Climate")
    site.indexer.scan()
    assert site.store.version("refugees+syria") == before  # another tag changed
    write_article("2026-03-01-a.txt", title="A, edited", keywords="Syria, Refugees")
    site.indexer.scan()
    after = site.store.version("refugees+syria")
    assert after != before
    index = site.store.begin()
    try:
        assert index.version("refugees+syria") == after  # the snapshot agrees
    finally:
        index.close()


def test_an_edit_renders_again_only_the_combinations_holding_its_tags(app: Flask) -> None:
    site = app.extensions["feedsvc"]
    client = app.test_client()
    pairs = [(a.lower(), b.lower()) for a in TAGS for b in TAGS if a < b]
    scopes = [f"{a}{op}{b}" for a, b in pairs for op in ("+", ",", "+-")]
    for scope in scopes:
        assert client.get(f"/tags/{scope}/feed.atom?limit=100").status_code in (200, 301)
    canonical = sorted({read(scope, lambda name: name, 4).text for scope in scopes})
    for scope in canonical:
        assert client.get(f"/tags/{scope}/feed.atom?limit=100").status_code == 200
    # An article of Science alone, retitled.
    folder = Path(site.settings.articles_dir)
    science = next(
        path for path in sorted(folder.iterdir()) if path.read_text().split("\n\n")[2] == "Science"
    )
    text = science.read_text().split("\n\n")
    science.write_text("\n\n".join(["Retitled", *text[1:]]))
    site.indexer.scan()
    before = site.cache.renders
    holding = [scope for scope in canonical if "science" in parse(scope).tags]
    for scope in canonical:
        combination = parse(scope)
        matches = all("science" in group for group in combination.groups) and (
            "science" not in combination.excluded
        )
        body = client.get(f"/tags/{scope}/feed.atom?limit=100").data
        assert (b">Retitled<" in body) == matches, scope
    # Every combination naming science was rendered again, and only those.
    assert site.cache.renders - before == len(holding) < len(canonical)


def test_a_change_that_leaves_a_combination_as_it_was_leaves_its_date(
    write_article: WriteArticle, articles_dir: Path
) -> None:
    write_article("2026-03-01-a.txt", title="Both", keywords="Syria, Refugees")
    write_article("2026-03-02-b.txt", title="Syria alone", keywords="Syria")
    app = create_app({"ARTICLES_DIR": str(articles_dir), "WATCH": False})
    client, site = app.test_client(), app.extensions["feedsvc"]
    path = "/tags/refugees+syria/feed.atom"
    first = client.get(path)
    version = site.store.version("refugees+syria")
    # An article of Syria that is no match is edited: the combination's version moves,
    # its bytes do not, and neither do its validators.
    time.sleep(1.1)  # Last-Modified has a resolution of a second
    write_article("2026-03-02-b.txt", title="Syria alone, edited", keywords="Syria")
    site.indexer.scan()
    assert site.store.version("refugees+syria") != version
    again = client.get(path, headers={"If-Modified-Since": first.headers["Last-Modified"]})
    assert again.status_code == 304
    assert again.headers["Last-Modified"] == first.headers["Last-Modified"]
    assert again.headers["ETag"] == first.headers["ETag"]
    # A fresh worker finds the date on the shelf.
    other = create_app({"ARTICLES_DIR": str(articles_dir), "WATCH": False}).test_client()
    assert other.get(path).headers["Last-Modified"] == first.headers["Last-Modified"]
    # An edit to a match moves it forward.
    write_article("2026-03-01-a.txt", title="Both, edited", keywords="Syria, Refugees")
    site.indexer.scan()
    changed = client.get(path)
    assert b"Both, edited" in changed.data
    assert parsedate_to_datetime(changed.headers["Last-Modified"]) > parsedate_to_datetime(
        first.headers["Last-Modified"]
    )

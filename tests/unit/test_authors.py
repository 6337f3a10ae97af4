"""Authors: who the index says wrote each article, and the author scopes it keeps."""

from __future__ import annotations

import os
from pathlib import Path
from xml.etree import ElementTree

import feedparser
import pytest
from flask import Flask
from flask.testing import FlaskClient

from feedsvc.app import create_app
from feedsvc.articles import author_names
from feedsvc.indexer import Indexer
from feedsvc.store import SITE, Store
from feedsvc.surrogate import keys_of, topics_of
from feedsvc.urls import AUTHORS, with_author
from feedsvc.writer import author_scopes
from tests.conftest import WriteArticle


@pytest.mark.parametrize(
    ("line", "names"),
    [
        ("Ana Lima", ["Ana Lima"]),
        ("Ana Lima and Bo Chen", ["Ana Lima", "Bo Chen"]),
        ("Ana Lima, Bo Chen", ["Ana Lima", "Bo Chen"]),
        ("Ana Lima; Bo Chen & Cy Dee", ["Ana Lima", "Bo Chen", "Cy Dee"]),
        ("Ana Lima AND Bo Chen", ["Ana Lima", "Bo Chen"]),
        ("Mary Anderson", ["Mary Anderson"]),  # never split inside a word
        ("Brandon Sanders", ["Brandon Sanders"]),
        ("Mary O'Brien", ["Mary O'Brien"]),
        (", ,", []),
        ("", []),
    ],
)
def test_an_author_line_names_each_author(line: str, names: list[str]) -> None:
    assert author_names(line) == names


def test_author_scopes_are_normalised_as_tags_and_fall_back_to_the_site_author() -> None:
    scopes = author_scopes("Ana  Lima, ANA LIMA and José Ñúñez", "The Newsroom")
    assert [(t.key, t.label) for t in scopes] == [
        ("@ana-lima", "Ana Lima"),
        ("@josé-ñúñez", "José Ñúñez"),
    ]
    assert [t.key for t in author_scopes(None, "The Newsroom")] == ["@the-newsroom"]
    assert [t.key for t in author_scopes(" , ", "The Newsroom")] == ["@the-newsroom"]
    assert author_scopes(None, "") == []


def index_of(folder: Path, state: Path, site_author: str = "The Newsroom") -> Store:
    indexer = Indexer(str(folder), str(state), site_author=site_author)
    indexer.open()
    indexer.catch_up()
    indexer.close()
    return Store(str(state))


def test_the_index_keeps_each_author_as_a_scope(
    articles_dir: Path, tmp_path: Path, write_article: WriteArticle
) -> None:
    write_article("2026-01-01-a.txt", title="A", front={"author": "ana lima"})
    write_article("2026-01-02-b.txt", title="B", front={"author": "Ana Lima and Bo Chen"})
    write_article("2026-01-03-c.txt", title="C")
    write_article("2026-01-04-d.txt", title="D", front={"author": "Bo Chen", "draft": "yes"})
    store = index_of(articles_dir, tmp_path / "state")
    with store.reading() as index:
        ana, bo, newsroom = (AUTHORS.scope(k) for k in ("ana-lima", "bo-chen", "the-newsroom"))
        assert [a.title for a in index.newest(ana, 10)] == ["B", "A"]
        assert [a.title for a in index.newest(bo, 10)] == ["B"]  # a draft is no article
        assert [a.title for a in index.newest(newsroom, 10)] == ["C"]
        assert index.label(ana) == "ana lima"  # the oldest article's spelling
        assert index.count(ana) == 2
        assert [(s.key, s.count) for s in index.authors_by_date()] == [
            (newsroom, 1),
            (ana, 2),  # B is the newest of both: then by key
            (bo, 1),
        ]
        assert index.author_count() == 3
        assert index.has_author(ana) and not index.has_tag(ana)
        assert not index.has_author("news") and index.has_tag("news")
        # Authors are no tags: the tag index lists only tags.
        assert [t.key for t in index.tags_by_count()] == ["news"]
        b = index.newest(ana, 1)[0]
        assert [(t.key, t.label) for t in b.authors] == [(ana, "Ana Lima"), (bo, "Bo Chen")]
        assert [t.key for t in b.tags] == ["news"]
        assert [t.key for t in index.article(b.slug).authors] == [ana, bo]  # type: ignore[union-attr]
        assert index.count(SITE) == 3


def test_an_edit_moves_an_article_between_authors(
    articles_dir: Path, tmp_path: Path, write_article: WriteArticle
) -> None:
    path = write_article("2026-01-01-a.txt", title="A", front={"author": "Ana Lima"})
    indexer = Indexer(str(articles_dir), str(tmp_path / "state"), site_author="Desk")
    indexer.open()
    indexer.catch_up()
    store = Store(str(tmp_path / "state"))
    before = store.version("@ana-lima")
    path.write_text(path.read_text().replace("Ana Lima", "Bo Chen"))
    os.utime(path, ns=(1, 1))
    indexer.catch_up()
    with store.reading() as index:
        assert index.count("@ana-lima") == 0 and index.count("@bo-chen") == 1
        assert [s.key for s in index.authors_by_date()] == ["@bo-chen"]
    assert store.version("@ana-lima") != before
    indexer.close()


def test_another_site_author_rebuilds_the_index(
    articles_dir: Path, tmp_path: Path, write_article: WriteArticle
) -> None:
    write_article("2026-01-01-a.txt", title="A")
    state = tmp_path / "state"
    with index_of(articles_dir, state, "Desk").reading() as index:
        assert index.count("@desk") == 1
    with index_of(articles_dir, state, "Night Desk").reading() as index:
        assert index.count("@desk") == 0
        assert index.count("@night-desk") == 1
    # An outdated index is no damaged one: nothing is kept aside.
    assert not [p.name for p in state.iterdir() if "damaged" in p.name or "outdated" in p.name]


# Served ------------------------------------------------------------------------------

AUTHORS_LINES = [
    "Ana Lima",
    "ana lima",
    "Ana Lima and Bo Chen",
    "Bo Chen",
    "Cy Dee, Ana Lima",
    None,
]


@pytest.fixture
def app(write_article: WriteArticle, articles_dir: Path) -> Flask:
    for n in range(30):
        line = AUTHORS_LINES[n % len(AUTHORS_LINES)]
        front = {"author": line} if line else {}
        write_article(
            f"2026-01-{1 + n % 28:02d}-a{n:02d}.txt",
            title=f"Article {n}",
            keywords="Syria" if n % 2 else "Climate",
            front=front,
        )
    return create_app(
        {"ARTICLES_DIR": str(articles_dir), "WATCH": False, "FEED_ITEMS": 4, "AUTHOR": "The Desk"}
    )


def every_item(client: FlaskClient, path: str) -> list[str]:
    """The id of every item of a feed and its later pages."""
    entries: list[str] = []
    url: str | None = path
    while url is not None:
        answer = client.get(url)
        assert answer.status_code == 200, (url, answer.data)
        if answer.mimetype == "application/feed+json":
            document = answer.get_json()
            entries += [item["id"] for item in document["items"]]
            url = document.get("next_url", "").removeprefix(BASE) or None
            continue
        parsed = feedparser.parse(answer.data)
        assert not parsed.bozo, parsed.bozo_exception
        entries += [entry.id for entry in parsed.entries]
        following = [link.href for link in parsed.feed.links if link.rel == "next"]
        url = following[0].removeprefix(BASE) if following else None
    return entries


BASE = "http://127.0.0.1:8000"


def test_an_author_feed_holds_exactly_their_articles_in_every_format(app: Flask) -> None:
    client = app.test_client()
    everything = every_item(client, "/feed.atom")

    def names(item: str) -> set[str]:
        line = AUTHORS_LINES[int(item.rpartition("/a")[2]) % len(AUTHORS_LINES)]
        return set(author_names(line or "The Desk"))

    wrote = {
        "ana-lima": {"Ana Lima", "ana lima"},
        "bo-chen": {"Bo Chen"},
        "cy-dee": {"Cy Dee"},
        "the-desk": {"The Desk"},
    }
    for key, spellings in wrote.items():
        expected = [item for item in everything if names(item) & spellings]
        assert expected, key
        for fmt in ("atom", "rss", "json"):
            found = every_item(client, f"/authors/{key}/feed.{fmt}")
            assert found == expected, (key, fmt)  # the same ids, newest first
    atom = feedparser.parse(client.get("/authors/ana-lima/feed.atom").data)
    assert atom.feed.title == "feedsvc news: Ana Lima"  # the oldest article's spelling
    assert atom.feed.id == "tag:127.0.0.1,2026:authors/ana-lima"


def test_an_author_is_found_by_any_spelling_and_a_stranger_is_not(app: Flask) -> None:
    client = app.test_client()
    moved = client.get("/authors/Ana%20Lima/feed.json?limit=2")
    assert moved.status_code == 301
    assert moved.headers["Location"] == f"{BASE}/authors/ana-lima/feed.json?limit=2"
    assert client.get("/authors/ANA-LIMA/").headers["Location"] == f"{BASE}/authors/ana-lima/"
    alias = client.get("/authors/Bo%20Chen/rss.xml")
    assert alias.headers["Location"] == f"{BASE}/authors/bo-chen/feed.rss"
    for path in ["/authors/nobody/", "/authors/nobody/feed.rss", "/authors/syria/headlines.json"]:
        answer = client.get(path)
        assert answer.status_code == 404, path
        assert answer.mimetype == "text/plain"
        assert answer.data.decode().startswith("no author ")
    # An author is no tag, and a tag no author.
    assert client.get("/tags/@ana-lima/").status_code == 404
    assert client.get("/tags/ana-lima/").status_code == 404
    assert client.get("/authors/x" * 2000 + "/").status_code == 404


def test_an_author_feed_is_named_by_its_author_and_revalidates(app: Flask) -> None:
    client = app.test_client()
    first = client.get("/authors/bo-chen/feed.rss")
    assert first.headers["xkey"] == "all author:bo-chen"
    assert first.headers["Cache-Tag"] == "all,author:bo-chen"
    again = client.get(
        "/authors/bo-chen/feed.rss", headers={"If-None-Match": first.headers["ETag"]}
    )
    assert again.status_code == 304
    assert client.get("/authors/bo-chen/").headers["xkey"] == "all author:bo-chen"


def test_the_author_index_lists_every_author_newest_first(app: Flask) -> None:
    client = app.test_client()
    page = client.get("/authors/")
    assert page.status_code == 200
    text = page.data.decode()
    order = [text.index(f'href="{BASE}/authors/{key}/"') for key in ("the-desk", "cy-dee")]
    assert order == sorted(order)
    assert ">Ana Lima</a></td><td>20<" in text  # 4 of each 6 name her
    assert client.get("/authors/?page=2").status_code == 404
    assert f'href="{BASE}/authors/"' in client.get("/").data.decode()  # linked from every page


def test_an_author_page_headlines_and_opml(app: Flask) -> None:
    client = app.test_client()
    page = client.get("/authors/cy-dee/").data.decode()
    assert "<h1>Cy Dee</h1>" in page
    atom = f'title="feedsvc news: Cy Dee (Atom)" href="{BASE}/authors/cy-dee/feed.atom"'
    assert f'<link rel="alternate" type="application/atom+xml" {atom}>' in page
    headlines = client.get("/authors/cy-dee/headlines.json").get_json()
    assert headlines["author"] == "cy-dee" and headlines["tag"] is None
    assert headlines["feeds"]["json"] == f"{BASE}/authors/cy-dee/feed.json"
    assert len(headlines["items"]) == 5
    opml = ElementTree.fromstring(client.get("/authors.opml").data)
    feeds = [outline.get("xmlUrl") for outline in opml.iter("outline") if outline.get("xmlUrl")]
    assert feeds == [
        f"{BASE}/authors/{key}/feed.atom" for key in ("ana-lima", "bo-chen", "cy-dee", "the-desk")
    ]
    few = ElementTree.fromstring(client.get("/authors.opml?min=6").data)
    assert len([o for o in few.iter("outline") if o.get("xmlUrl")]) == 2  # Ana 20, Bo 10
    assert client.get("/authors.opml?min=x").status_code == 400


def test_an_author_on_a_topic_is_their_articles_with_the_tags(app: Flask) -> None:
    client = app.test_client()
    everything = every_item(client, "/feed.atom")
    ana = set(every_item(client, "/authors/ana-lima/feed.atom"))
    syria = set(every_item(client, "/tags/syria/feed.atom"))
    climate = set(every_item(client, "/tags/climate/feed.atom"))
    for path, expected in [
        ("/authors/ana-lima/tags/syria/feed.atom", ana & syria),
        ("/authors/ana-lima/tags/climate,syria/feed.rss", ana & (syria | climate)),
        ("/authors/ana-lima/tags/climate+-syria/feed.json", ana & climate - syria),
    ]:
        assert every_item(client, path) == [i for i in everything if i in expected], path
        assert expected, path
    feed = feedparser.parse(client.get("/authors/ana-lima/tags/syria/feed.atom").data)
    assert feed.feed.title == "feedsvc news: Syria by Ana Lima"
    assert feed.feed.id == "tag:127.0.0.1,2026:authors/ana-lima/tags/syria"
    first = client.get("/authors/ana-lima/tags/syria/feed.rss")
    assert first.headers["xkey"] == "all author:ana-lima tag:syria"  # purged by either
    assert (
        client.get(
            "/authors/ana-lima/tags/syria/feed.rss",
            headers={"If-None-Match": first.headers["ETag"]},
        ).status_code
        == 304
    )
    headlines = client.get("/authors/ana-lima/tags/climate,syria/headlines.json").get_json()
    assert (headlines["author"], headlines["tag"]) == ("ana-lima", "climate,syria")
    page = client.get("/authors/ana-lima/tags/syria/").data.decode()
    assert "<h1>Syria by Ana Lima</h1>" in page
    assert (
        '<meta name="description" content="Articles tagged Syria by Ana Lima on feedsvc news">'
        in page
    )
    # Nothing written on a topic yet: an empty feed, not an error.
    empty = client.get("/authors/the-desk/tags/climate+syria/feed.atom")
    assert empty.status_code == 200 and feedparser.parse(empty.data).entries == []


def test_an_author_on_a_topic_has_one_spelling(app: Flask) -> None:
    client = app.test_client()
    for path, canonical in [
        ("/authors/Ana%20Lima/tags/Syria/feed.rss", "/authors/ana-lima/tags/syria/feed.rss"),
        ("/authors/ana-lima/tags/syria,climate/", "/authors/ana-lima/tags/climate,syria/"),
        ("/authors/ana-lima/tags/syria/rss.xml", "/authors/ana-lima/tags/syria/feed.rss"),
        (
            "/authors/bo-chen/tags/syria%20climate/headlines.json",
            "/authors/bo-chen/tags/climate+syria/headlines.json",
        ),
    ]:
        answer = client.get(path)
        assert (answer.status_code, answer.headers["Location"]) == (301, BASE + canonical), path
    for path, status, message in [
        ("/authors/ana-lima/tags/nowhere/feed.rss", 404, "no tag 'nowhere'\n"),
        ("/authors/nobody/tags/syria/feed.rss", 404, "no author 'nobody'\n"),
        (
            "/authors/ana-lima/tags/-syria/",
            400,
            "a NOT (-) needs a tag to take from: add one with +\n",
        ),
        ("/authors/ana-lima/tags/a+b+c+d+e/feed.rss", 400, "a combination names at most 4 tags\n"),
        ("/authors/ana-lima/tags/syria/tags/climate/feed.rss", 404, None),
    ]:
        answer = client.get(path)
        assert answer.status_code == status, path
        if message is not None:
            assert answer.data.decode() == message, path


def test_every_author_is_linked_where_the_format_has_a_place(app: Flask) -> None:
    client = app.test_client()
    both = "/articles/a02"  # "Ana Lima and Bo Chen"
    page = client.get(both).data.decode()
    ana, bo = f"{BASE}/authors/ana-lima/", f"{BASE}/authors/bo-chen/"
    assert f'by <a rel="author" href="{ana}">Ana Lima</a> and <a rel="author" href="{bo}">' in page
    assert f'<meta property="article:author" content="{ana}">' in page
    assert f'<meta property="article:author" content="{bo}">' in page
    three = client.get("/authors/cy-dee/").data.decode()  # "Cy Dee, Ana Lima"
    assert f'<a rel="author" href="{BASE}/authors/cy-dee/">Cy Dee</a> and <a' in three
    atom = feedparser.parse(client.get("/authors/bo-chen/feed.atom?limit=20").data)
    entry = next(e for e in atom.entries if e.id.endswith("/a02"))
    assert [(a.name, a.href) for a in entry.authors] == [("Ana Lima", ana), ("Bo Chen", bo)]
    rss = feedparser.parse(client.get("/authors/bo-chen/feed.rss?limit=20").data)
    assert next(e for e in rss.entries if e.id.endswith("/a02")).author == "Ana Lima and Bo Chen"
    document = client.get("/authors/bo-chen/feed.json?limit=20").get_json()
    item = next(i for i in document["items"] if i["id"].endswith("/a02"))
    assert item["authors"] == [{"name": "Ana Lima", "url": ana}, {"name": "Bo Chen", "url": bo}]
    headlines = client.get("/authors/bo-chen/headlines.json?limit=20").get_json()["items"]
    line = next(h for h in headlines if h["url"].endswith("/a02"))
    assert (line["author"], line["author_url"]) == ("Ana Lima and Bo Chen", ana)
    desk = client.get("/authors/the-desk/headlines.json").get_json()["items"][0]
    assert (desk["author"], desk["author_url"]) == ("The Desk", f"{BASE}/authors/the-desk/")


def test_hubs_and_caches_know_an_author_by_their_key() -> None:
    base = "https://news.example"
    assert topics_of(base, ["@ana-lima"]) == tuple(
        f"{base}/authors/ana-lima/feed.{fmt}" for fmt in ("rss", "atom", "json")
    )
    topic = with_author("@josé-ñúñez", "climate,energy")
    assert topics_of(base, [topic])[0] == (
        f"{base}/authors/jos%C3%A9-%C3%B1%C3%BA%C3%B1ez/tags/climate,energy/feed.rss"
    )
    author = "author:jos%C3%A9-%C3%B1%C3%BA%C3%B1ez"
    assert keys_of([topic]) == ("all", author, "tag:climate", "tag:energy")


def test_a_renamed_author_keeps_their_key_and_takes_the_new_spelling(
    articles_dir: Path, tmp_path: Path, write_article: WriteArticle
) -> None:
    oldest = write_article("2026-01-01-a.txt", title="A", front={"author": "Ana Lima"})
    write_article("2026-01-02-b.txt", title="B", front={"author": "ANA LIMA"})
    indexer = Indexer(str(articles_dir), str(tmp_path / "state"), site_author="Desk")
    indexer.open()
    indexer.catch_up()
    store = Store(str(tmp_path / "state"))
    with store.reading() as index:
        assert index.label("@ana-lima") == "Ana Lima"
    oldest.write_text(oldest.read_text().replace("Ana Lima", "ana  lima"))
    os.utime(oldest, ns=(1, 1))
    indexer.catch_up()
    with store.reading() as index:
        assert index.label("@ana-lima") == "ana lima"  # the oldest article's, as it is now
        assert index.count("@ana-lima") == 2
    # Accents are kept, as in tags: another accent is another author.
    oldest.write_text(oldest.read_text().replace("ana  lima", "Ána Lima"))
    os.utime(oldest, ns=(2, 2))
    indexer.catch_up()
    with store.reading() as index:
        assert index.count("@ana-lima") == 1 and index.count("@ána-lima") == 1
        assert index.label("@ana-lima") == "ANA LIMA"
    indexer.close()

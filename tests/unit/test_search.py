"""Search feeds: the query language, the full-text index kept in step, and what is served."""

from __future__ import annotations

import os
import random
import re
from pathlib import Path

import feedparser
import pytest
from flask import Flask

from feedsvc import writer
from feedsvc.app import create_app
from feedsvc.indexer import Indexer, WriterLock
from feedsvc.search import QueryError, read, words
from feedsvc.settings import Settings
from feedsvc.store import Store
from tests.conftest import WriteArticle

BASE = "http://127.0.0.1:8000"


@pytest.mark.parametrize(
    ("q", "canonical"),
    [
        ("Palmyra  UNESCO", "palmyra unesco"),
        ("unesco palmyra", "palmyra unesco"),
        ("-damascus syria", "syria -damascus"),
        ('"Old  City" -Damascus', '"old city" -damascus'),
        ("syria NOT damascus", "syria -damascus"),
        ("palmyra AND unesco", "palmyra unesco"),
        ("U.S. trade", '"u s" trade'),
        ("São Paulo", "paulo sao"),
        ("Zürich", "zurich"),
        ("pal*", "pal"),
        ("title:palmyra", '"title palmyra"'),
        ("NEAR(palmyra unesco)", '"near palmyra" unesco'),
        ('"unclosed phrase', '"unclosed phrase"'),
        ("\x00palmyra\x1b", "palmyra"),
        ("a a A", "a"),
        ("and or not", "and not or"),  # lower case: words like any other
    ],
)
def test_every_query_has_one_canonical_text(q: str, canonical: str) -> None:
    query = read(q)
    assert query.text == canonical
    assert read(canonical) == query  # the canonical text reads as itself


@pytest.mark.parametrize(
    ("q", "message"),
    [
        ("", "q needs a word to look for"),
        ("AND", "q needs a word to look for"),
        ("-palmyra", "q needs a word to look for (a - only takes away)"),
        ('"" * ( :', "q needs a word to look for"),
        ("palmyra OR unesco", "q finds articles holding every term: OR is not supported"),
        ("a b c d e f g h i", "q holds at most 8 words and phrases"),
        ("x" * 201, "q is at most 200 characters"),
    ],
)
def test_a_query_that_cannot_be_run_says_why(q: str, message: str) -> None:
    with pytest.raises(QueryError, match=message.replace("(", r"\(").replace(")", r"\)")):
        read(q)


@pytest.mark.parametrize(
    "q", ['NEAR("a" b) -c* title:"d e" ^f', 'a" OR" b', "x AND NOT y", '\x00"\\"z"', "ç 漢字 ٣"]
)
def test_the_match_is_rebuilt_from_words_never_what_was_typed(q: str) -> None:
    """Only quoted words, AND and NOT reach SQLite: nothing typed is an FTS5 operator."""
    match = read(q).match()
    term = r'"\w+(?: \w+)*"'
    assert re.fullmatch(rf"\({term}(?: AND {term})*\)(?: NOT {term})*", match), match


# Served ------------------------------------------------------------------------------

VOCABULARY = ["palmyra", "unesco", "damascus", "ruins", "souk", "Zürich", "old", "city"]


def texts(n: int) -> tuple[str, str, str]:
    """Title, standfirst and body of article n: words chosen by a seeded draw."""
    rng = random.Random(n)
    chosen = rng.sample(VOCABULARY, 3)
    return f"Story {n} {chosen[0]}", f"About {chosen[1]}.", f"It happened in the {chosen[2]}."


@pytest.fixture
def app(write_article: WriteArticle, articles_dir: Path) -> Flask:
    for n in range(40):
        title, standfirst, body = texts(n)
        # Many articles share a day: a search orders ties by slug, as feeds do.
        write_article(
            f"2026-01-{1 + n % 5:02d}-s{n:02d}.txt",
            title=title,
            standfirst=standfirst,
            body=(body,),
            keywords="News",
        )
    return create_app({"ARTICLES_DIR": str(articles_dir), "WATCH": False, "FEED_ITEMS": 6})


def every_id(app: Flask, path: str) -> list[str]:
    client = app.test_client()
    ids: list[str] = []
    url: str | None = path
    while url is not None:
        answer = client.get(url)
        assert answer.status_code == 200, (url, answer.data)
        parsed = feedparser.parse(answer.data)
        assert not parsed.bozo
        ids += [entry.id for entry in parsed.entries]
        following = [link.href for link in parsed.feed.links if link.rel == "next"]
        url = following[0].removeprefix(BASE) if following else None
    return ids


def number(item: str) -> int:
    return int(item.rpartition("/s")[2])


def test_a_search_feed_holds_exactly_the_matching_articles_newest_first(app: Flask) -> None:
    everything = every_id(app, "/feed.atom")

    def holds(n: int, phrase: str) -> bool:
        return phrase in " ".join(words(" ".join(texts(n)))).join("  ")

    cases = {
        "palmyra": lambda n: holds(n, " palmyra "),
        "palmyra unesco": lambda n: holds(n, " palmyra ") and holds(n, " unesco "),
        "zurich": lambda n: holds(n, " zurich "),  # Zürich, accent and case folded
        '"about palmyra"': lambda n: holds(n, " about palmyra "),
        "ruins -souk": lambda n: holds(n, " ruins ") and not holds(n, " souk "),
    }
    for q, matches in cases.items():
        expected = [item for item in everything if matches(number(item))]
        assert expected, q
        for fmt in ("atom", "rss"):
            assert every_id(app, f"/search/feed.{fmt}?q={q}") == expected, (q, fmt)
    client = app.test_client()
    document = client.get("/search/feed.json?q=palmyra").get_json()
    assert document["title"] == "feedsvc news: search for palmyra"
    assert document["feed_url"] == f"{BASE}/search/feed.json?q=palmyra"
    assert "hubs" not in document


def test_other_spellings_redirect_and_hostile_queries_are_plain(app: Flask) -> None:
    client = app.test_client()
    moved = client.get("/search/feed.rss?limit=3&q=Unesco%20%20PALMYRA")
    assert moved.status_code == 301
    assert moved.headers["Location"] == f"{BASE}/search/feed.rss?q=palmyra+unesco&limit=3"
    assert (
        client.get("/headlines.json?q=palmyra").headers["Location"]
        == f"{BASE}/search/headlines.json?q=palmyra"
    )
    for q in [
        "NEAR(palmyra",
        "title:palmyra",
        '"palmyra',
        "palmyra*",
        "palmyra AND unesco",
        "palmyra NOT souk",
        "\x01\x02palmyra",
        "{palmyra}",
        "palmyra^2",
        "'; DROP TABLE articles; --",
    ]:
        answer = client.get("/search/feed.atom", query_string={"q": q})
        if answer.status_code == 301:
            answer = client.get(answer.headers["Location"].removeprefix(BASE))
        assert answer.status_code in (200, 400), (q, answer.status_code)
        if q in ('"palmyra', "palmyra*", "\x01\x02palmyra", "{palmyra}"):  # plain words
            assert feedparser.parse(answer.data).entries, q
    for q, message in [
        ("", "q needs a word to look for\n"),
        ("a OR b", "q finds articles holding every term: OR is not supported\n"),
        ("x" * 300, "q is at most 200 characters\n"),
    ]:
        answer = client.get("/search/feed.rss", query_string={"q": q})
        assert (answer.status_code, answer.data.decode(), answer.mimetype) == (
            400,
            message,
            "text/plain",
        )
    assert client.get("/search/feed.rss").data == b"q is required: the words to search for\n"


def test_a_search_is_keyed_as_a_search_and_revalidates(app: Flask) -> None:
    client = app.test_client()
    first = client.get("/search/feed.atom?q=palmyra")
    assert first.headers["xkey"] == "all search"
    again = client.get(
        "/search/feed.atom?q=palmyra", headers={"If-None-Match": first.headers["ETag"]}
    )
    assert again.status_code == 304
    headlines = client.get("/search/headlines.json?q=palmyra+unesco").get_json()
    assert headlines["q"] == "palmyra unesco"
    assert headlines["tag"] is None and headlines["author"] is None
    page = client.get("/search/?q=palmyra").data.decode()
    assert f'href="{BASE}/search/feed.atom?q=palmyra"' in page
    assert 'name="q" type="search" value="palmyra"' in page
    assert "form-action 'self'" in client.get("/search/").headers["Content-Security-Policy"]
    assert "No article holds these words." in client.get("/search/?q=nowhere").data.decode()
    empty = client.get("/search/feed.atom?q=nowhere")
    assert empty.status_code == 200 and feedparser.parse(empty.data).entries == []


def test_the_search_index_follows_every_change_in_date_order(
    articles_dir: Path, tmp_path: Path, write_article: WriteArticle
) -> None:
    """Edits, deletions and additions on days many articles share: a search lists what
    the site feed lists, in its order."""
    for n in range(30):
        write_article(f"2026-02-0{1 + n % 3}-t{n:02d}.txt", title=f"Tidal {n}", keywords="Sea")
    indexer = Indexer(str(articles_dir), str(tmp_path / "state"))
    indexer.open()
    indexer.catch_up()
    store = Store(str(tmp_path / "state"))
    match = read("tidal").match()

    def agree() -> None:
        with store.reading() as index:
            site = [a.slug for a in index.newest("", 100) if "Tidal" in a.title]
            assert [slug for _, slug in index.search(match, 100)] == site
            for offset in (0, 7, 20):
                page = [slug for _, slug in index.search(match, 7, offset)]
                assert page == site[offset : offset + 7]

    agree()
    # New articles on the same days, sorting between the others by slug.
    for n in range(30, 45):
        write_article(f"2026-02-0{1 + n % 3}-t{n - 29:02d}b.txt", title=f"Tidal {n}")
    indexer.catch_up()
    agree()
    # An edit that drops the word, a deletion, an edit that adds it.
    dropped = articles_dir / "2026-02-01-t00.txt"
    dropped.write_text(dropped.read_text().replace("Tidal 0", "Calm 0"))
    os.utime(dropped, ns=(5, 5))
    (articles_dir / "2026-02-02-t01.txt").unlink()
    write_article("2026-02-03-z.txt", title="Tidal late")
    indexer.catch_up()
    agree()
    with store.reading() as index:
        slugs = {slug for _, slug in index.search(match, 100)}
    assert "t00" not in slugs and "t01" not in slugs and "z" in slugs
    with store.reading() as index:
        assert [slug for _, slug in index.search(read("calm").match(), 5)] == ["t00"]
    indexer.close()


# The search index of a first build, filled in the background ------------------------


@pytest.fixture
def filling(articles_dir: Path, tmp_path: Path, write_article: WriteArticle) -> Indexer:
    """An index built as ``feedsvc serve`` builds it: its search index left to fill."""
    for n in range(30):
        write_article(
            f"2026-01-{n % 28 + 1:02d}-p{n:02d}.txt",
            title=f"Palmyra report {n}",
            keywords="syria",
            body=(f"Paragraph about the oasis number {n}.",),
        )
    settings = {"ARTICLES_DIR": str(articles_dir), "STATE_DIR": str(tmp_path / "state")}
    indexer = Indexer.of(Settings.from_mapping(settings))
    indexer.lock = WriterLock(str(tmp_path / "state"))
    assert indexer.lock.acquire()  # an app made in this test only reads
    indexer.search_in_background = True
    indexer.open()
    indexer.catch_up()
    return indexer


def test_the_site_answers_before_its_search_index_is_full(
    filling: Indexer, articles_dir: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Rows first, then the site; the words after, step by step. Meanwhile a search is a
    503 that says when to come back, /healthz says how far the filling is, and nothing
    else waits."""
    monkeypatch.setattr(writer, "SEARCH_STEP_ROWS", 10)
    app = create_app(
        {"ARTICLES_DIR": str(articles_dir), "STATE_DIR": str(tmp_path / "state"), "WATCH": False}
    )  # a reader: the test's indexer holds the writer's lock
    client = app.test_client()
    assert client.get("/tags/syria/feed.atom").status_code == 200
    searching = client.get("/search/feed.atom?q=palmyra")
    assert searching.status_code == 503 and searching.headers["Retry-After"]
    assert searching.get_data(as_text=True).startswith("503 Service Unavailable: the search index")
    assert client.get("/healthz").json["search"] == {"index": "building", "done": 0, "total": 30}
    assert filling.search_step()
    assert client.get("/healthz").json["search"]["done"] == 10
    filling.finish_search()
    assert "search" not in client.get("/healthz").json
    found = feedparser.parse(client.get("/search/feed.atom?q=palmyra&limit=50").data)
    assert len(found.entries) == 30


def test_edits_while_the_search_index_fills_are_found_once_and_as_edited(
    filling: Indexer, write_article: WriteArticle, monkeypatch: pytest.MonkeyPatch
) -> None:
    """An article edited behind the filling's cursor has its words replaced; one past it
    is left to the filling, which reads its row as it is by then: no word twice, none
    stale."""
    monkeypatch.setattr(writer, "SEARCH_STEP_ROWS", 10)
    filling.search_step()  # the ten oldest (days 1 to 10) are in
    write_article(
        "2026-01-02-p01.txt", title="Aleppo report", keywords="syria", body=("Souk.",)
    )  # behind the cursor
    write_article(
        "2026-01-27-p26.txt", title="Aleppo dispatch", keywords="syria", body=("Souk.",)
    )  # past it
    filling.scan()
    filling.finish_search()
    store = Store(filling.state_dir)
    with store.reading() as index:
        assert sorted(slug for _, slug in index.search("aleppo", 50)) == ["p01", "p26"]
        palmyra = [slug for _, slug in index.search("palmyra", 50)]
        oasis = [slug for _, slug in index.search("oasis", 50)]
    assert len(palmyra) == len(set(palmyra)) == 28
    assert len(oasis) == len(set(oasis)) == 28


def test_a_restart_resumes_a_half_filled_search_index(
    filling: Indexer, articles_dir: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(writer, "SEARCH_STEP_ROWS", 10)
    filling.search_step()
    filling.close()
    assert filling.lock is not None
    filling.lock.release()
    settings = {"ARTICLES_DIR": str(articles_dir), "STATE_DIR": filling.state_dir}
    again = Indexer.of(Settings.from_mapping(settings))
    again.open()
    again.catch_up()  # not in the background: it finishes the filling before returning
    assert again.files_read == 0  # resumed, not built again
    with Store(filling.state_dir).reading() as index:
        assert index.search_progress() is None
        found = [slug for _, slug in index.search("palmyra", 50)]
    assert len(found) == len(set(found)) == 30


def test_searches_and_combinations_wait_for_no_slot_and_go_back_so_far(
    write_article: WriteArticle, articles_dir: Path
) -> None:
    """While the budget's every slot is held (another worker reading a costly search),
    a search or a combination is a 503 to make again, not a wait; a tag's feed and a
    page already kept are answered as ever. Pages past DEEPEST items are a 404."""
    for n in range(3):
        write_article(f"2026-01-0{n + 1}-a{n}.txt", title=f"T{n}", keywords="alpha, beta")
    app = create_app({"ARTICLES_DIR": str(articles_dir), "WATCH": False})
    client = app.test_client()
    kept = client.get("/tags/alpha+beta/feed.atom")
    with app.extensions["feedsvc"].budget.spend():
        refused = client.get("/search/feed.atom?q=paragraph")
        assert refused.status_code == 503
        assert refused.headers["Retry-After"] and refused.headers["Cache-Control"] == "no-store"
        assert client.get("/tags/alpha+-beta/feed.json").status_code == 503
        assert client.get("/tags/alpha/feed.atom").status_code == 200
        assert client.get("/tags/alpha+beta/feed.atom").data == kept.data
        again = client.get(
            "/tags/alpha+beta/feed.atom", headers={"If-None-Match": kept.headers["ETag"]}
        )
        assert again.status_code == 304
    assert client.get("/search/feed.atom?q=paragraph").status_code == 200
    deep = client.get("/search/feed.atom?q=paragraph&page=51")
    assert deep.status_code == 404
    assert deep.get_data(as_text=True) == "searches and combinations of tags go back 1,000 items\n"
    assert client.get("/tags/alpha+beta/feed.rss?page=51&limit=20").status_code == 404

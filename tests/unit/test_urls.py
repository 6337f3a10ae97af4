"""Every path is built and parsed in feedsvc.urls, and the two agree."""

from __future__ import annotations

from urllib.parse import unquote

import pytest

from feedsvc import urls
from feedsvc.feeds import FORMATS
from feedsvc.settings import Settings
from feedsvc.store import SITE
from feedsvc.urls import (
    FEED,
    FEED_FORMATS,
    HEADLINES,
    PAGE,
    Place,
    Urls,
    feed_path,
    headlines_path,
    parse,
    scope_path,
)
from feedsvc.views.feeds import feed_key, feed_locator

SCOPES = [SITE, "syria", "são-paulo", "100%", "a b", "日本", "🦀", "x?y#z"]


@pytest.mark.parametrize("scope", SCOPES)
def test_every_path_parses_back_to_its_scope(scope: str) -> None:
    # The server hands the app a decoded path: decode what the builders make.
    assert parse(unquote(scope_path(scope))) == Place(scope, PAGE)
    assert parse(unquote(headlines_path(scope))) == Place(scope, HEADLINES)
    for fmt in FEED_FORMATS:
        assert parse(unquote(feed_path(scope, fmt))) == Place(scope, FEED, fmt)


def test_the_shapes_of_the_site_and_a_tag() -> None:
    assert scope_path(SITE) == "/"
    assert feed_path(SITE, "rss") == "/feed.rss"
    assert feed_path("são-paulo", "atom") == "/tags/s%C3%A3o-paulo/feed.atom"
    assert headlines_path("a/b") == "/tags/a%2Fb/headlines.json"


@pytest.mark.parametrize(
    "path",
    [
        "",
        "/tags/",  # the tag index is no scope
        "/tags//feed.rss",
        "/tags/a/b/feed.rss",
        "//feed.rss",
        "/feed.xml",
        "/feed.RSS",
        "/tags/a/feed.",
        "/tags/a",
        "/articles/a",
        "/authors/a/b/feed.rss",
        "/tagsa/feed.rss",
    ],
)
def test_other_paths_are_no_place(path: str) -> None:
    assert parse(path) is None


def test_the_renderers_are_the_formats_of_the_urls() -> None:
    assert tuple(FORMATS) == FEED_FORMATS


def test_a_new_kind_of_scope_is_one_shape(monkeypatch: pytest.MonkeyPatch) -> None:
    writers = urls.Shape("writer", "/writers/", marker="\x00writer:")
    monkeypatch.setattr(urls, "SHAPES", (writers, urls.TAGS))
    scope = writers.scope("ana-lima")
    assert feed_path(scope, "json") == "/writers/ana-lima/feed.json"
    assert parse("/writers/ana-lima/feed.json") == Place(scope, FEED, "json")
    assert parse("/tags/ana-lima/feed.json") == Place("ana-lima", FEED, "json")
    assert urls.feed_id("example.org,2026", scope) == "tag:example.org,2026:writers/ana-lima"
    assert writers.rule("feed.<fmt>") == "/writers/<writer>/feed.<fmt>"


def test_an_author_is_a_shape_of_its_own() -> None:
    scope = urls.AUTHORS.scope("ana-lima")
    assert feed_path(scope, "json") == "/authors/ana-lima/feed.json"
    assert parse("/authors/ana-lima/feed.json") == Place(scope, FEED, "json")
    assert parse("/tags/ana-lima/feed.json") == Place("ana-lima", FEED, "json")
    assert urls.feed_id("example.org,2026", scope) == "tag:example.org,2026:authors/ana-lima"
    assert urls.AUTHORS.rule("feed.<fmt>") == "/authors/<author>/feed.<fmt>"


def test_absolute_urls_and_icons_come_from_the_settings() -> None:
    settings = Settings.from_mapping({"BASE_URL": "https://news.example/site/"})
    made = Urls.of(settings)
    assert made.feed("são-paulo", "rss", page=2, limit=None) == (
        "https://news.example/site/tags/s%C3%A3o-paulo/feed.rss?page=2"
    )
    assert made.feeds(SITE) == {
        fmt: f"https://news.example/site/feed.{fmt}" for fmt in FEED_FORMATS
    }
    assert made.icons.rss_image == "https://news.example/site/icon-144.png"
    assert made.icons.rss_image_size == (144, 144)
    assert made.absolute("/pictures/a.jpg") == "https://news.example/site/pictures/a.jpg"
    assert made.absolute("https://cdn.example/a.jpg") == "https://cdn.example/a.jpg"
    configured = Urls("https://news.example", icon_url="/brand.png")
    assert configured.icons.rss_image == "https://news.example/brand.png"
    assert configured.icons.rss_image_size is None
    assert configured.icons.favicon == "https://news.example/brand.png"
    assert configured.favicon_file == "https://news.example/favicon.ico"


def test_the_fast_path_finds_first_pages_of_canonical_feeds() -> None:
    locate = feed_locator(Settings.from_mapping({}))
    # WSGI gives the path's bytes as Latin-1.
    wsgi = feed_path("são-paulo", "atom").encode().decode("latin-1")
    found = locate(unquote(wsgi, encoding="latin-1"), "")
    assert found is not None and (found.key, found.scope) == (
        feed_key("são-paulo", "atom"),
        "são-paulo",
    )
    site = locate("/feed.json", "")
    assert site is not None and site.key == feed_key(SITE, "json")
    assert locate("/feed.json", "page=2") is None
    assert locate("/tags/syria/", "") is None
    assert locate("/tags/syria/headlines.json", "") is None
    assert locate("/tags/\xff/feed.rss", "") is None  # not UTF-8


@pytest.mark.parametrize("topic", ["syria", "climate,energy+-coal", "2024-vote+b", "são-paulo"])
def test_an_author_on_a_topic_lives_under_the_author(topic: str) -> None:
    scope = urls.with_author("@ana-lima", topic)
    assert urls.on_topic(scope) == ("@ana-lima", topic)
    assert urls.shape_of(scope) is not urls.AUTHORS  # a combination is no author
    path = urls.feed_path(scope, "rss")
    assert path.startswith("/authors/ana-lima/tags/")
    assert parse(path.replace("%C3%A3", "ã")) == Place(scope, FEED, "rss")
    assert urls.feed_id("a.example,2026", scope).startswith("tag:a.example,2026:authors/ana-lima/")


def test_only_one_author_makes_a_topic() -> None:
    assert urls.on_topic("@a+@b") is None
    assert urls.on_topic("@a,@b+c") is None
    assert urls.on_topic("syria+climate") is None
    assert urls.on_topic("@a") is None


def test_scope_paths_are_remembered_within_a_bound() -> None:
    """A list of every tag asks for each tag's path five times in turn: worked out once;
    made-up scopes by the thousand never grow what is remembered."""
    urls.scope_path.cache_clear()
    for n in range(5_000):
        for fmt in ("rss", "atom", "json"):
            assert urls.feed_path(f"made-up-{n}", fmt) == f"/tags/made-up-{n}/feed.{fmt}"
    info = urls.scope_path.cache_info()
    assert info.currsize <= urls.SCOPE_PATHS
    assert info.hits >= 2 * 5_000

"""HTTP details through the test client: doubled slashes, OPTIONS, what /healthz never
sends, and a shelf that cannot be used."""

from __future__ import annotations

import json
import re
from pathlib import Path

import pytest
from flask.testing import FlaskClient

from feedsvc.app import create_app
from feedsvc.shelf import DATABASE
from feedsvc.views import pages
from tests.conftest import WriteArticle

BASE = "http://127.0.0.1:8000"


@pytest.fixture
def site(write_article: WriteArticle) -> None:
    write_article("2026-01-01-one.txt", title="One", keywords="Syria")


@pytest.mark.usefixtures("site")
@pytest.mark.parametrize(
    ("path", "location"),
    [
        ("/tags//syria/feed.rss", "/tags/syria/feed.rss"),
        ("//feed.atom?limit=2", "/feed.atom?limit=2"),
        ("/tags/syria//", "/tags/syria/"),
        ("///evil.example/feed.rss", "/evil.example/feed.rss"),  # on the base URL still
    ],
)
def test_doubled_slashes_are_a_301_to_single_ones(
    client: FlaskClient, path: str, location: str
) -> None:
    # As sent: the test client would read a leading "//" as a host.
    target, _, query = path.partition("?")
    response = client.get("/", query_string=query, environ_overrides={"PATH_INFO": target})
    assert response.status_code == 301
    assert response.headers["Location"] == BASE + location


@pytest.mark.usefixtures("site")
@pytest.mark.parametrize("path", ["/feed.rss", "/tags/syria/", "/headlines.json"])
def test_options_is_a_204_with_allow_and_the_cors_preflight(client: FlaskClient, path: str) -> None:
    response = client.options(path, headers={"Origin": "https://partner.example"})
    assert response.status_code == 204 and response.data == b""
    assert "Content-Type" not in response.headers
    assert response.headers["Allow"] == "GET, HEAD, OPTIONS"
    assert response.headers["Access-Control-Allow-Origin"] == "*"
    assert "If-None-Match" in response.headers["Access-Control-Allow-Headers"]


@pytest.mark.usefixtures("site")
@pytest.mark.parametrize("method", ["GET", "OPTIONS", "POST", "DELETE"])
def test_healthz_never_sends_cors_headers(client: FlaskClient, method: str) -> None:
    response = client.open("/healthz", method=method, headers={"Origin": "https://x.example"})
    assert response.status_code in (200, 204, 405)
    assert not [name for name, _ in response.headers.items() if name.startswith("Access-Control")]


@pytest.mark.usefixtures("site")
def test_a_shelf_that_cannot_be_opened_is_reported_before_any_request(
    articles_dir: Path, tmp_path: Path
) -> None:
    state = tmp_path / "state"
    (state / DATABASE).mkdir(parents=True)  # where the shelf's database would be
    client = create_app(
        {"ARTICLES_DIR": str(articles_dir), "WATCH": False, "STATE_DIR": str(state)}
    ).test_client()
    report = json.loads(client.get("/healthz").data)
    assert report["status"] == "degraded"
    assert report["representations"]["kept"] is False
    assert client.get("/feed.rss").status_code == 200  # rendered on demand meanwhile


PAGES = ["/", "/tags/syria/", "/articles/one", "/tags/", "/search/?q=one"]


@pytest.mark.usefixtures("site")
@pytest.mark.parametrize("path", PAGES)
@pytest.mark.parametrize("coding", ["br", "gzip", "identity"])
def test_pages_are_answered_as_feeds_are_each_coding_with_its_etag(
    client: FlaskClient, path: str, coding: str
) -> None:
    """Pages go through respond(): negotiated, one ETag per coding, a 304 for it; no
    Last-Modified (a page is made from more than its scope)."""
    page = client.get(path, headers={"Accept-Encoding": coding})
    assert page.status_code == 200
    assert page.headers.get("Content-Encoding", "identity") == coding
    assert page.headers["Content-Type"] == "text/html; charset=utf-8"
    assert page.headers["Cache-Control"] == "public, max-age=60"
    etag = page.headers["ETag"]
    assert etag.startswith('"') and (coding == "identity") == ("-" not in etag)
    assert "Last-Modified" not in page.headers
    assert page.headers["Access-Control-Allow-Origin"] == "*"
    assert page.headers["Content-Security-Policy"].startswith("default-src 'none'")
    again = client.get(path, headers={"Accept-Encoding": coding, "If-None-Match": etag})
    assert again.status_code == 304 and again.data == b""
    assert again.headers["ETag"] == etag
    assert again.headers["Vary"] == "Accept-Encoding"
    assert again.headers["Cache-Control"] == "public, max-age=60"
    other = "identity" if coding != "identity" else "gzip"
    assert (
        client.get(path, headers={"Accept-Encoding": other, "If-None-Match": etag}).status_code
        == 200
    )
    # No date of its own: If-Modified-Since alone is ignored.
    dated = client.get(path, headers={"If-Modified-Since": "Fri, 01 Jan 2100 00:00:00 GMT"})
    assert dated.status_code == 200


@pytest.mark.usefixtures("site")
def test_a_page_refuses_with_406_when_no_coding_is_acceptable(client: FlaskClient) -> None:
    refused = client.get("/tags/syria/", headers={"Accept-Encoding": "identity;q=0"})
    assert refused.status_code == 406
    assert refused.headers["Content-Type"].startswith("text/plain")


def test_a_removed_article_s_page_is_a_410_whatever_validators_are_sent(
    articles_dir: Path, write_article: WriteArticle
) -> None:
    """RFC 9110 13.2.1: only a 2xx answer is made conditional; a 410 never becomes a 304."""
    write_article("2026-01-01-one.txt", title="One", keywords="Syria")
    write_article("2026-01-02-two.txt", title="Two", keywords="Syria")
    create_app({"ARTICLES_DIR": str(articles_dir), "WATCH": False})
    (articles_dir / "2026-01-02-two.txt").unlink()
    client = create_app({"ARTICLES_DIR": str(articles_dir), "WATCH": False}).test_client()
    gone = client.get("/articles/two")
    assert gone.status_code == 410
    assert b"Removed" in gone.data or b"removed" in gone.data
    again = client.get("/articles/two", headers={"If-None-Match": gone.headers["ETag"]})
    assert again.status_code == 410
    assert again.data == gone.data


def test_the_tag_index_is_paged_the_most_used_first(
    articles_dir: Path, write_article: WriteArticle, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A site of many thousand tags costs a page of rows a request, not every tag: the tag
    index, like the author index, lists LISTED_PER_PAGE a page, with prev/next links."""
    monkeypatch.setattr(pages, "LISTED_PER_PAGE", 3)
    for n in range(7):  # tag t0 on one article, t1 on two, ... t6 on seven
        keywords = ", ".join(f"t{k}" for k in range(n, 7))
        write_article(f"2026-01-0{n + 1}-a{n}.txt", title=f"A{n}", keywords=keywords)
    client = create_app({"ARTICLES_DIR": str(articles_dir), "WATCH": False}).test_client()

    def listed(path: str) -> list[str]:
        answer = client.get(path)
        assert answer.status_code == 200
        return re.findall(rf'<td><a href="{BASE}/tags/(t\d)/">', answer.data.decode())

    assert [listed(f"/tags/?page={n}") for n in (1, 2, 3)] == [
        ["t6", "t5", "t4"],
        ["t3", "t2", "t1"],
        ["t0"],
    ]
    first, middle = client.get("/tags/").data.decode(), client.get("/tags/?page=2").data.decode()
    assert f'<link rel="next" href="{BASE}/tags/?page=2">' in first and 'rel="prev"' not in first
    assert f'<a rel="prev" href="{BASE}/tags/">' in middle  # page 1 at its own URL
    assert f'<a rel="next" href="{BASE}/tags/?page=3">' in middle
    assert "Page 2 of 3" in middle
    past = client.get("/tags/?page=4")
    assert past.status_code == 404 and b"past the last page, 3" in past.data
    assert client.get("/tags/?page=0").status_code == 400
    assert json.loads(client.get("/healthz").data)["tags"] == 7


@pytest.mark.parametrize(
    ("query", "said"),
    [
        ("page=99999999999999999999", "page is out of range: from 1\n"),
        ("page=0", "page is out of range: from 1\n"),
        ("page=two", "page must be a whole number from 1\n"),
    ],
)
def test_a_bad_page_number_is_told_for_what_it_is(
    client: FlaskClient, write_article: WriteArticle, query: str, said: str
) -> None:
    write_article("2026-01-01-a.txt", title="A", keywords="alpha")
    response = client.get(f"/feed.rss?{query}")
    assert response.status_code == 400 and response.get_data(as_text=True) == said

"""HTTP details through the test client: doubled slashes, OPTIONS, what /healthz never
sends, and a shelf that cannot be used."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from flask.testing import FlaskClient

from feedsvc.app import create_app
from feedsvc.shelf import DATABASE
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

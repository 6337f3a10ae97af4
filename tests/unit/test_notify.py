"""Purge and WebSub settings: URL lists read and checked; other methods are 405 everywhere.

The purges themselves, against real caches, are in ``tests/system/test_notify.py``.
"""

from __future__ import annotations

from typing import Any

import pytest

from feedsvc.settings import Settings, SettingsError


@pytest.mark.parametrize(
    ("given", "expected"),
    [
        ("", ()),
        ("http://a:6081/ https://b/", ("http://a:6081/", "https://b/")),
        ("http://a/,http://b/", ("http://a/", "http://b/")),
        (["http://a/", "http://a/"], ("http://a/",)),
    ],
)
def test_url_lists_are_read(given: object, expected: tuple[str, ...]) -> None:
    assert Settings.from_mapping({"PURGE_URLS": given}).purge_urls == expected
    assert Settings.from_mapping({"WEBSUB_HUBS": given}).websub_hubs == expected


@pytest.mark.parametrize("name", ["PURGE_URLS", "WEBSUB_HUBS"])
@pytest.mark.parametrize("given", ["varnish:6081", "ftp://a/", "http://", "http://a:x/", [1], 5])
def test_a_url_that_is_not_http_is_refused(name: str, given: object) -> None:
    with pytest.raises(SettingsError, match=f"FEEDSVC_{name} .*http"):
        Settings.from_mapping({name: given})


@pytest.mark.parametrize("method", ["PURGE", "BAN", "POST", "DELETE", "FOO"])
@pytest.mark.parametrize("path", ["/feed.rss", "/tags/alpha/", "/no/such/thing", "/rss"])
def test_other_methods_are_405_everywhere(client: Any, method: str, path: str) -> None:
    response = client.open(path, method=method)
    assert response.status_code == 405
    assert response.headers["Allow"] == "GET, HEAD, OPTIONS"
    assert response.mimetype == "text/plain"
    assert response.get_data(as_text=True).count("\n") == 1

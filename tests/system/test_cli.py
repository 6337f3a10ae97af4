"""The ``feedsvc`` command line, run as a subprocess the way people run it."""

from __future__ import annotations

import http.client
import json
import os
import subprocess
import sys
from pathlib import Path

import feedparser
import pytest

from bench.processes import free_port, stop, wait_healthy
from tests.conftest import WriteArticle

ROOT = Path(__file__).resolve().parents[2]
BUNDLED = ROOT / "articles"


def feedsvc(*args: str | Path) -> subprocess.CompletedProcess[str]:
    """Run ``python -m feedsvc.cli ARGS`` with no FEEDSVC_* settings from the environment."""
    env = {k: v for k, v in os.environ.items() if not k.startswith("FEEDSVC_")}
    return subprocess.run(
        [sys.executable, "-m", "feedsvc.cli", *map(str, args)],
        capture_output=True,
        text=True,
        env=env,
        timeout=60,
        check=False,
    )


def test_check_names_each_broken_file_with_its_reason_and_exits_1(
    write_article: WriteArticle, articles_dir: Path
) -> None:
    """Every skipped file is printed with its path and why; the exit status is 1."""
    write_article("good.txt")
    write_article("no-body.txt", text="Title\n\nStandfirst.\n\nnews\n")
    write_article("bad-date.txt", front={"date": "the day after tomorrow"})
    write_article("latin.txt", text=b"Caf\xe9\n\nS.\n\nk\n\nBody.\n")
    write_article("2026-01-01-same.txt", front={"slug": "twin"})
    write_article("2026-01-02-same.txt", front={"slug": "twin"})
    result = feedsvc("check", articles_dir)
    assert result.returncode == 1, result.stderr
    problems = {line for line in result.stderr.splitlines() if line.startswith(str(articles_dir))}
    assert problems == {
        f"{articles_dir / 'no-body.txt'}: no body paragraph",
        f"{articles_dir / 'bad-date.txt'}: date: unparseable date 'the day after tomorrow'",
        f"{articles_dir / 'latin.txt'}: not UTF-8 (byte 3)",
        f"{articles_dir / '2026-01-02-same.txt'}: slug 'twin' is already served from "
        f"{articles_dir / '2026-01-01-same.txt'}",
    }
    assert "6 files, 4 skipped, 2 published" in result.stdout


def test_check_exits_0_on_a_clean_folder(write_article: WriteArticle, articles_dir: Path) -> None:
    """A folder of good articles (a draft is not a problem) passes."""
    write_article("one.txt", keywords="a, b")
    write_article("two.txt", keywords="b, c", front={"draft": "true"})
    result = feedsvc("check", articles_dir)
    assert result.returncode == 0, result.stderr
    assert "2 files, 0 skipped, 1 published, 2 tags" in result.stdout


def test_check_exits_0_on_the_bundled_articles() -> None:
    """Every bundled sample article is readable."""
    result = feedsvc("check", BUNDLED)
    assert result.returncode == 0, result.stderr
    assert " 0 skipped" in result.stdout


def test_check_reports_a_missing_folder(tmp_path: Path) -> None:
    """A folder that does not exist is a problem, not a clean pass."""
    result = feedsvc("check", tmp_path / "nowhere")
    assert result.returncode == 1
    assert "cannot list the articles directory" in result.stderr


@pytest.fixture
def tagged(write_article: WriteArticle) -> None:
    write_article("2026-01-01-first.txt", title="First", keywords="São Paulo, Shared")
    write_article("2026-01-02-second.txt", title="Second", keywords="Shared")
    write_article("2026-01-03-third.txt", title="Third", keywords="Other")


@pytest.mark.usefixtures("tagged")
@pytest.mark.parametrize(
    ("tag", "titles"),
    [
        pytest.param("shared", ["Second", "First"], id="key"),
        pytest.param("são-paulo", ["First"], id="non-ascii-key"),
        pytest.param("São Paulo", ["First"], id="label-spelling"),
    ],
)
def test_render_prints_a_tag_feed(articles_dir: Path, tag: str, titles: list[str]) -> None:
    """``render --format rss --tag TAG DIR`` prints that tag's RSS feed."""
    result = feedsvc("render", "--format", "rss", "--tag", tag, articles_dir)
    assert result.returncode == 0, result.stderr
    feed = feedparser.parse(result.stdout.encode())
    assert not feed.bozo, feed.get("bozo_exception")
    assert feed.version == "rss20"
    assert [e.title for e in feed.entries] == titles


@pytest.mark.usefixtures("tagged")
@pytest.mark.parametrize("fmt", ["atom", "json"])
def test_render_prints_the_site_feed(articles_dir: Path, fmt: str) -> None:
    """Without ``--tag``, render prints the site feed in the chosen format."""
    result = feedsvc("render", "--format", fmt, articles_dir)
    assert result.returncode == 0, result.stderr
    if fmt == "json":
        titles = [item["title"] for item in json.loads(result.stdout)["items"]]
    else:
        feed = feedparser.parse(result.stdout.encode())
        assert not feed.bozo, feed.get("bozo_exception")
        assert feed.version == "atom10"
        titles = [e.title for e in feed.entries]
    assert titles == ["Third", "Second", "First"]


@pytest.mark.usefixtures("tagged")
def test_render_unknown_tag_fails_with_a_short_message(articles_dir: Path) -> None:
    """An unknown tag is an error naming it, with no HTML and a non-zero status."""
    result = feedsvc("render", "--format", "rss", "--tag", "no-such-tag", articles_dir)
    assert result.returncode != 0
    assert result.stdout == ""
    assert "no tag 'no-such-tag'" in result.stderr
    assert "<" not in result.stderr


def test_serve_without_a_base_url_links_to_the_address_it_serves(
    write_article: WriteArticle, articles_dir: Path, tmp_path: Path
) -> None:
    """``feedsvc serve --port P`` alone: every link, feed and redirect is on port P (not
    the 8000 of the default), and the start says which address links are made on. The
    folder is given on the command line, as to check, index and render."""
    write_article("2026-01-01-one.txt", title="One", keywords="Alpha")
    port = free_port()
    env = {k: v for k, v in os.environ.items() if not k.startswith("FEEDSVC_")}
    env["FEEDSVC_STATE_DIR"] = str(tmp_path / "state")
    log = tmp_path / "serve.log"
    with log.open("wb") as out:
        process = subprocess.Popen(
            [sys.executable, "-m", "feedsvc.cli", "serve", "--port", str(port), str(articles_dir)],
            env=env,
            stdout=out,
            stderr=subprocess.STDOUT,
            start_new_session=True,
            cwd=tmp_path,  # no articles/ here: the folder comes from the argument
        )
    try:
        wait_healthy(port, process)
        base = f"http://127.0.0.1:{port}"
        feed = feedparser.parse(http_get(port, "/feed.atom"))
        assert feed.feed.link == f"{base}/"
        assert feed.entries[0].link == f"{base}/articles/one"
        assert f'href="{base}/tags/alpha/feed.atom"' in http_get(port, "/tags/alpha/").decode()
        connection = http.client.HTTPConnection("127.0.0.1", port, timeout=10)
        connection.request("GET", "/tags/Alpha/feed.atom")
        moved = connection.getresponse()
        assert moved.status == 301 and moved.getheader("Location").startswith(base)
        connection.close()
    finally:
        stop(process)
    assert f"serving {base}/" in log.read_text()


def http_get(port: int, path: str) -> bytes:
    connection = http.client.HTTPConnection("127.0.0.1", port, timeout=10)
    try:
        connection.request("GET", path)
        response = connection.getresponse()
        assert response.status == 200, (path, response.status)
        return response.read()
    finally:
        connection.close()

"""Shared by both tiers: article files in a temporary folder, the app and its test client,
an index built in this process; and the line between the tiers.

The fast tier is every test outside ``tests/system/``: it runs in this process, with
no browser, no server, no proxy, no Node and no benchmark (``scripts/test --fast``).
The system tier, ``tests/system/``, starts the real things; its tests are marked
``slow``. A test outside it that imports what starts them fails at collection.
"""

from __future__ import annotations

import time
import types
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest
from flask import Flask
from flask.testing import FlaskClient

from feedsvc.app import create_app
from feedsvc.indexer import Indexer
from feedsvc.store import Store

ROOT = Path(__file__).resolve().parent.parent
BUNDLED_ARTICLES = ROOT / "articles"
SYSTEM = ROOT / "tests" / "system"

SYSTEM_ONLY = (
    "playwright",
    "subprocess",
    "http.server",
    "socketserver",
    "wsgiref",
    "werkzeug.serving",
    "granian",
    "bench",
    "tests.system",
)
"""What starts a browser, a process, a server or a benchmark: for the system tier only."""


def system_use(module: types.ModuleType) -> str | None:
    """The first thing in ``module``'s namespace that comes from :data:`SYSTEM_ONLY`."""
    for name, value in vars(module).items():
        origin = value.__name__ if isinstance(value, types.ModuleType) else None
        origin = origin or getattr(value, "__module__", None)
        if isinstance(origin, str) and any(
            origin == banned or origin.startswith(banned + ".") for banned in SYSTEM_ONLY
        ):
            return f"{name} comes from {origin}"
    return None


def pytest_collection_modifyitems(config: pytest.Config, items: list[pytest.Item]) -> None:
    """Mark the system tier ``slow``; refuse a fast-tier test that would start something."""
    misplaced: dict[str, str] = {}
    for item in items:
        if SYSTEM in item.path.parents:
            item.add_marker(pytest.mark.slow)
        elif isinstance(module := getattr(item, "module", None), types.ModuleType) and (
            found := system_use(module)
        ):
            misplaced[str(item.path.relative_to(ROOT))] = found
    if misplaced:
        lines = "\n".join(f"  {path}: {found}" for path, found in sorted(misplaced.items()))
        raise pytest.UsageError(
            "these tests start a process, a server or a browser: move them to tests/system/\n"
            + lines
        )


WriteArticle = Callable[..., Path]


def article_text(
    title: str = "A title",
    standfirst: str = "A one-paragraph summary.",
    keywords: str = "news",
    caption: str | None = "A caption | Image: A. Photographer",
    body: tuple[str, ...] = ("The first paragraph.", "The second paragraph."),
    front: dict[str, str] | None = None,
) -> str:
    """The text of an article file in the bundled format."""
    blocks = []
    if front is not None:
        blocks.append("---\n" + "".join(f"{k}: {v}\n" for k, v in front.items()) + "---")
    blocks += [title, standfirst, keywords]
    if caption is not None:
        blocks.append(caption)
    blocks += list(body)
    return "\n\n".join(blocks) + "\n"


@pytest.fixture
def articles_dir(tmp_path: Path) -> Path:
    folder = tmp_path / "articles"
    folder.mkdir()
    return folder


def article_writer(folder: Path) -> WriteArticle:
    """A function writing ``name`` into ``folder``, from raw ``text`` or article_text() fields."""

    def write(name: str, text: str | bytes | None = None, **fields: Any) -> Path:
        path = folder / name
        content = article_text(**fields) if text is None else text
        if isinstance(content, str):
            path.write_text(content, encoding="utf-8", newline="")
        else:
            path.write_bytes(content)
        return path

    return write


@pytest.fixture
def write_article(articles_dir: Path) -> WriteArticle:
    """Write ``name`` into the articles folder, from raw ``text`` or from article_text() fields."""
    return article_writer(articles_dir)


def shared_articles_dir(factory: pytest.TempPathFactory, name: str = "shared") -> Path:
    """A new, empty articles folder, for a module-scoped fixture to fill once."""
    folder = factory.mktemp(name) / "articles"
    folder.mkdir()
    return folder


WAIT_FLOOR = 60.0
"""The least any wait is bounded by. A bound is there to end a test that would hang, never
to time the service: a machine under load (a full suite beside other jobs) can take
seconds for what takes milliseconds when quiet, and a tight bound then fails a service
that works. Speed is measured in ``bench/``."""


def wait_until(check: Callable[[], object], timeout: float, what: str = "the condition") -> float:
    """Poll ``check()`` until it is true; return the seconds it took, failing at the deadline
    (``timeout``, never less than :data:`WAIT_FLOOR`)."""
    timeout = max(timeout, WAIT_FLOOR)
    started = time.monotonic()
    deadline = started + timeout
    while not check():
        if time.monotonic() >= deadline:
            pytest.fail(f"{what} did not hold within {timeout} s")
        time.sleep(0.02)
    return time.monotonic() - started


@pytest.fixture
def app(articles_dir: Path) -> Flask:
    return create_app({"ARTICLES_DIR": str(articles_dir), "WATCH": False})


@pytest.fixture
def client(app: Flask) -> FlaskClient:
    return app.test_client()


def build_index(articles: Path, state: Path | None = None, **options: Any) -> Store:
    """Index a folder in this process (into ``state``, by default beside the folder)."""
    state = state or articles.parent / f".{articles.name}-state"
    indexer = Indexer(str(articles), str(state), **options)
    indexer.open()
    indexer.catch_up()
    indexer.close()
    return Store(str(state))

"""The straightforward alternative: Flask + feedgen, rendering every request.

What a first version of a feed service usually looks like, and the reference for
target 6 (first render of an uncached feed): all articles are read into memory at
start-up (bodies included), and each request filters them by tag, sorts them
newest first and renders the 20 newest with feedgen. No cache, no validators.

Run it as the benchmark does::

    BASELINE_ARTICLES_DIR=/path/to/articles BASELINE_BASE_URL=http://127.0.0.1:8600 \
        granian --interface wsgi --factory --port 8600 bench.baseline:create_app

Article files are parsed with ``feedsvc.articles`` so both services render the
very same items (titles, dates, tags, bodies).
"""

from __future__ import annotations

import html
import os
from datetime import UTC
from urllib.parse import quote

from feedgen.feed import FeedGenerator
from flask import Flask, Response, abort

from feedsvc.articles import Article, ArticleError, read_article

FEED_ITEMS = 20


def load(directory: str) -> list[tuple[Article, tuple[str, ...]]]:
    """Every published article with its body paragraphs."""
    loaded = []
    for name in sorted(os.listdir(directory)):
        if not name.endswith(".txt") or name.startswith("."):
            continue
        try:
            article, body = read_article(os.path.join(directory, name), UTC, with_body=True)
        except ArticleError:
            continue
        if not article.draft:
            loaded.append((article, body))
    return loaded


def body_html(article: Article, body: tuple[str, ...]) -> str:
    parts = []
    if article.caption or article.credit:
        credit = f" <small>Image: {html.escape(article.credit)}</small>" if article.credit else ""
        parts.append(
            f"<figure><figcaption>{html.escape(article.caption or '')}{credit}"
            "</figcaption></figure>"
        )
    parts.extend(f"<p>{html.escape(p, quote=False)}</p>" for p in body)
    return "\n".join(parts)


def create_app() -> Flask:
    app = Flask(__name__)
    directory = os.environ.get("BASELINE_ARTICLES_DIR", "articles")
    base_url = os.environ.get("BASELINE_BASE_URL", "http://127.0.0.1:8000").rstrip("/")
    articles = load(directory)

    @app.route("/tags/<tag>/feed.rss")
    def tag_feed(tag: str) -> Response:
        chosen = [(a, b) for a, b in articles if any(t.key == tag for t in a.tags)]
        if not chosen:
            abort(404)
        # Newest first, ties by slug: the order feedsvc uses, so both show the same items.
        chosen.sort(key=lambda pair: (-pair[0].published.timestamp(), pair[0].slug))
        label = next(t.label for t in chosen[-1][0].tags if t.key == tag)
        fg = FeedGenerator()
        fg.id(f"{base_url}/tags/{quote(tag)}/")
        fg.title(f"feedsvc news: {label}")
        fg.description(f"Articles tagged {label}")
        fg.link(href=f"{base_url}/tags/{quote(tag)}/feed.rss", rel="self")
        fg.link(href=f"{base_url}/tags/{quote(tag)}/", rel="alternate")
        fg.language("en")
        for article, body in chosen[:FEED_ITEMS]:
            fe = fg.add_entry(order="append")
            link = f"{base_url}/articles/{quote(article.slug)}"
            fe.id(link)
            fe.guid(link, permalink=True)
            fe.title(article.title)
            fe.link(href=link)
            fe.published(article.published)
            fe.updated(article.updated)
            fe.description(article.standfirst)
            fe.content(body_html(article, body), type="html")
            for t in article.tags:
                fe.category(term=t.key, label=t.label)
            if article.author:
                fe.author({"name": article.author, "email": "newsroom@example.org"})
        return Response(fg.rss_str(pretty=False), mimetype="application/rss+xml")

    return app

"""A scope's feed from one snapshot of the index: what the views serve and the writer keeps.

:meth:`Syndication.feed` renders one page of a scope's feed in one format; the feed
views and the background renderer (:mod:`feedsvc.prerender`) both call it, with
the surrogate keys of :func:`feedsvc.surrogate.with_keys`, so what is kept in the
background is what a request would have rendered. Plain data, no Flask: a page
past the end is :class:`PastTheEnd`, which the views answer with a 404.
"""

from __future__ import annotations

import math
from collections.abc import Iterable, Mapping, Sequence

from .articles import Article
from .feeds import EPOCH, FeedInfo, Format, Item
from .responses import Rendered
from .search import is_search
from .settings import Settings
from .store import SITE, Snapshot
from .surrogate import hub_links
from .urls import AUTHORS, FEED_STYLE_PATH, TAG_INDEX_PATH, Urls, feed_id, item_id


class PastTheEnd(LookupError):
    """A page after a feed's or a listing's last."""

    def __init__(self, page: int, pages: int | None) -> None:
        last = "the last page" if pages is None else f"the last page, {pages}"
        super().__init__(f"page {page} is past {last}")
        self.page = page
        self.pages = pages


def feed_key(scope: str, fmt: str, page: int = 1, limit: int | None = None) -> tuple[object, ...]:
    """The cache key of one page of a scope's feed in one format."""
    return ("feed", scope, fmt, page, limit)


def shared_max_age(settings: Settings) -> int | None:
    """The ``s-maxage`` of cacheable answers: only caches we purge may keep them longer."""
    return settings.shared_max_age if settings.purge_urls else None


class Syndication:
    """Feeds made with the site's settings and URLs, from any snapshot of the index."""

    def __init__(self, settings: Settings, urls: Urls) -> None:
        self.settings = settings
        self.urls = urls
        self.max_age = settings.feed_max_age
        """How long a client may keep a feed (``max-age``)."""
        self.shared_max_age = shared_max_age(settings)

    def title(self, index: Snapshot, scope: str) -> str:
        """What a scope's feed and page are called: the site's title, and the tag's label."""
        return self._title(scope, "" if scope == SITE else index.label(scope))

    def _title(self, scope: str, label: str) -> str:
        title = self.settings.site_title
        if is_search(scope):
            return f"{title}: search for {label}"
        return title if scope == SITE else f"{title}: {label}"

    def label(self, index: Snapshot, scope: str) -> str:
        return self.settings.site_title if scope == SITE else index.label(scope)

    def description(self, scope: str, label: str) -> str:
        """What a scope's feed and page hold: "Articles tagged Syria", "Articles by Ana Lima"."""
        if scope == SITE:
            return self.settings.site_description
        if is_search(scope):
            return f"Articles matching {label}"
        return f"Articles by {label}" if AUTHORS.owns(scope) else f"Articles tagged {label}"

    def items(
        self, authority: str, articles: Sequence[Article], bodies: Mapping[str, tuple[str, ...]]
    ) -> list[Item]:
        """Items ready to render, bodies and absolute URLs resolved."""
        return [
            Item(
                article=article,
                body=bodies.get(article.slug, ()),
                url=self.urls.article(article.slug),
                id=item_id(authority, article.uid or article.slug),
                image=self.urls.absolute(article.image),
                authors=tuple((a.label, self.urls.scope(a.key)) for a in article.authors),
            )
            for article in articles
        ]

    def feed(
        self, index: Snapshot, scope: str, fmt: Format, page: int = 1, limit: int | None = None
    ) -> Rendered:
        """One page of a scope's feed, dated by when its items last changed.

        :raises PastTheEnd: for a page after the last.
        """
        settings = self.settings
        urls = self.urls
        per_page = limit or settings.feed_items
        data = index.feed_page(scope, per_page, page)
        if data.count is None:  # a combination: only whether a later page has articles
            pages = None
            if page > 1 and not data.articles:
                raise PastTheEnd(page, None)
            later = bool(data.more)
        else:
            pages = max(1, math.ceil(data.count / per_page))
            if page > pages:
                raise PastTheEnd(page, pages)
            later = page < pages
        links = {"first": urls.feed(scope, fmt.name, limit=limit)}
        if pages is not None:
            links["last"] = urls.feed(scope, fmt.name, limit=limit, page=pages)
        if page > 1:
            links["previous"] = urls.feed(
                scope, fmt.name, limit=limit, page=page - 1 if page > 2 else None
            )
        if later:
            links["next"] = urls.feed(scope, fmt.name, limit=limit, page=page + 1)
        # A WebSub topic is a feed's own URL: paged and shortened feeds advertise no hub.
        # Nor does a search: hubs are told of tags' and authors' changes, not of searches'.
        hubs = settings.websub_hubs if page == 1 and limit is None and not is_search(scope) else ()
        pictures = urls.icons
        info = FeedInfo(
            id=feed_id(data.authority, scope),
            title=self._title(scope, data.label),
            description=self.description(scope, data.label),
            home_url=urls.scope(scope),
            self_url=urls.feed(scope, fmt.name, limit=limit, page=page if page > 1 else None),
            feed_url=urls.feed(scope, fmt.name, limit=limit),
            language=settings.language,
            author=settings.author,
            # Later pages date from every newer article too: they shift when one changes.
            updated=data.updated or EPOCH,
            links=links if page > 1 or later else {},
            ttl_minutes=max(1, settings.feed_max_age // 60),
            category_url=urls.to(TAG_INDEX_PATH),
            labels=data.labels,
            item_content_bytes=settings.item_content_bytes,
            icon_url=pictures.icon,
            favicon_url=pictures.favicon,
            logo_url=pictures.logo,
            rss_image_url=pictures.rss_image,
            rss_image_size=pictures.rss_image_size,
            stylesheet_url=urls.to(FEED_STYLE_PATH),
            hubs=hubs,
        )
        advertised = (("Link", hub_links(hubs, info.self_url)),) if hubs else ()
        body = fmt.render(self.items(data.authority, data.articles, data.bodies), info)
        # Last-Modified is when the scope last changed, not its newest item's date: an
        # edit, a deletion or a back-dated addition moves it too.
        return Rendered(body, fmt.content_type, data.changed, advertised)


def tag_labels(index: Snapshot, articles: Iterable[Article]) -> dict[str, str]:
    """The labels of every tag these articles carry, for printing them."""
    return index.labels(tag.key for article in articles for tag in article.tags)

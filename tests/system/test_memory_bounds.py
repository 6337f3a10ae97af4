"""Memory that stays level under floods of distinct input, measured in this process with
tracemalloc: each test makes thousands of keys or renders, seconds of work, so they run
in the system tier (the fast tier stays fast)."""

from __future__ import annotations

import random
from pathlib import Path

from feedsvc import articles
from feedsvc.app import create_app
from feedsvc.articles import normalize_tag
from tests.conftest import WriteArticle
from tests.unit.test_bounds import MB, long_name, retained


def test_tag_normaliser_memo_is_bounded_by_bytes() -> None:
    """Short keywords are memoised within a byte budget; long ones are not kept at all."""
    short = retained(lambda i: normalize_tag(f"{i:08d} keyword {'é' * 80}"), 20_000)
    long = retained(lambda i: normalize_tag(long_name(i, 2_000)), 2_000)
    print(f"memo after N and 2N short keywords: {short}; long keywords: {long}")
    assert short[1] - short[0] < MB // 2
    assert short[1] <= articles.TAG_MEMO_BYTES + MB // 2
    assert long[1] < MB // 2


def test_distinct_combinations_leave_memory_level(
    write_article: WriteArticle, articles_dir: Path
) -> None:
    """Made-up combinations by the thousand, each rendered once: what a worker holds
    after 2N of them is what it held after N (the cache's budget, 1 MB here)."""
    rng = random.Random(3)
    names = [f"Topic {n}" for n in range(40)]
    for n in range(80):
        write_article(
            f"2026-04-{n % 28 + 1:02d}-t{n}.txt", keywords=", ".join(rng.sample(names, 3))
        )
    config = {"ARTICLES_DIR": str(articles_dir), "WATCH": False, "CACHE_MEGABYTES": 1}
    client = create_app({**config, "SHELF_MEGABYTES": 0}).test_client()
    keys = [f"topic-{n}" for n in range(40)]
    combinations = [f"{a}{op}{b}" for a in keys for b in keys if a < b for op in ("+", ",", "+-")]
    rng.shuffle(combinations)

    def answer(i: int) -> None:
        assert client.get(f"/tags/{combinations[i]}/feed.json").status_code in (200, 301)

    figures = retained(answer, 300)
    print(f"held after N and 2N distinct combinations: {figures}")
    assert figures[1] - figures[0] < MB // 2, figures

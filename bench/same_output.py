"""Two revisions of feedsvc serve the same bytes: every URL of a site, headers included.

``python -m bench.same_output A B`` (git revisions, ``.`` for the working tree, each
with optional settings as ``REV[,NAME=VALUE...]``; by default ``HEAD .``) serves one
folder of articles (``--corpus DIR``, the bundled ``articles/`` by default, or
``--generate N`` realistic articles) with each revision and fetches every URL of the
site from both: the site's and every tag's feeds in every format and every page (and
the 404 past the last), pages, article pages, headlines, embeds, oEmbed, OPML, the
tag list, aliases, other spellings and a few bad requests. Each answer's status,
headers and body (gzip, deterministic) must be equal; only ``Date`` may differ, and
the static files' ``Last-Modified`` (their checkout's file times).

Both revisions serve the same index: the first revision builds it, then a copy goes
to the second (without the kept representations), so the dates and editions that
come from the index (Last-Modified, ETags, versions) are the same on both sides.
"""

from __future__ import annotations

import argparse
import gzip
import http.client
import json
import re
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from urllib.parse import quote, unquote

from bench.corpus import generate
from bench.polling import wait_ready
from bench.processes import Processes, free_port
from bench.servers import ROOT, clean_env
from bench.side_by_side import checkout, remove_checkouts
from feedsvc.urls import FEED_FORMATS

BASE_URL = "http://feeds.example"
"""The public base URL of both: links must not depend on the port each listens on."""
IGNORED = frozenset({"date"})
STATIC = frozenset({"/embed.js", "/favicon.ico", "/icon.png", "/icon-144.png", "/feed.css"})
"""Files served as they are: their Last-Modified is the checkout's file time."""
ALIASES = ("feed", "rss.xml", "atom", "feed.jsonfeed")

Answer = tuple[int, tuple[tuple[str, str], ...], bytes]


class Client:
    """GETs over one kept-alive connection, headers kept in order and repeated."""

    def __init__(self, port: int) -> None:
        self.port = port
        self.connection = http.client.HTTPConnection("127.0.0.1", port, timeout=120)

    def get(self, path: str) -> Answer:
        for attempt in (1, 2):
            try:
                self.connection.request("GET", path, headers={"Accept-Encoding": "gzip"})
                response = self.connection.getresponse()
                body = response.read()
                headers = tuple(
                    (name.lower(), value)
                    for name, value in response.getheaders()
                    if name.lower() not in IGNORED
                )
                return response.status, headers, body
            except (http.client.HTTPException, OSError):
                self.connection.close()
                self.connection = http.client.HTTPConnection("127.0.0.1", self.port, timeout=120)
                if attempt == 2:
                    raise
        raise AssertionError("unreachable")


def paged(client: Client, path: str, limit: int) -> list[str]:
    """``path`` and its later pages up to the first that is not 200 (that one included)."""
    found = [path]
    joiner = "&" if "?" in path else "?"
    for number in range(2, limit + 2):
        later = f"{path}{joiner}page={number}"
        found.append(later)
        if client.get(later)[0] != 200:
            break
    return found


def author_paths(client: Client, tags: list[str], max_pages: int) -> list[str]:
    """The author index and OPML, and the first authors' pages and feeds, alone and on
    the first tags (none where a revision has no authors: its /authors/ is a 404)."""
    paths = ["/authors/", "/authors/?page=2", "/authors.opml", "/authors.opml?min=2"]
    status, _, body = client.get("/authors/")
    if status != 200:
        return paths
    text = gzip.decompress(body).decode()
    authors = list(dict.fromkeys(re.findall(re.escape(BASE_URL) + r'/authors/([^/"]+)/"', text)))
    for author in authors[:10]:
        scope = f"/authors/{author}/"
        paths += paged(client, scope, max_pages)
        paths.append(f"{scope}headlines.json")
        for fmt in FEED_FORMATS:
            paths += paged(client, f"{scope}feed.{fmt}", max_pages)
        paths += [f"{scope}tags/{quote(tag, safe='')}/feed.atom" for tag in tags[:3]]
        paths.append(f"/authors/{author.upper()}/feed.rss")
    return paths


def search_paths(tags: list[str]) -> list[str]:
    """Searches made of the first tags' words: words, a phrase, an exclusion, bad ones."""
    words = [word for tag in tags[:6] for word in tag.split("-") if word.isalnum()][:6]
    queries = [*words[:3], " ".join(words[:2]), f'"{" ".join(words[:2])}"']
    if len(words) > 3:
        queries.append(f"{words[0]} -{words[3]}")
    paths = ["/search/", "/search/feed.rss?q=", "/search/feed.atom?q=a+OR+b"]
    for query in queries:
        q = quote(query, safe="")
        paths += [f"/search/?q={q}", f"/search/headlines.json?q={q}"]
        paths += [f"/search/feed.{fmt}?q={q}" for fmt in FEED_FORMATS]
        paths.append(f"/search/feed.atom?q={q}&page=2&limit=3")
    return paths


def site_paths(client: Client, max_tags: int, max_pages: int) -> list[str]:
    """Every URL worth comparing, discovered from the site itself."""
    status, _, body = client.get("/tags.json")
    if status != 200:
        raise RuntimeError(f"/tags.json answered {status}")
    tags = [tag["key"] for tag in json.loads(gzip.decompress(body))["tags"]][:max_tags]
    paths = ["/tags/", "/tags.json", "/feeds.opml", "/feeds.opml?min=2", "/embed.js"]
    paths += ["/favicon.ico", "/icon.png", "/icon-144.png", "/feed.css", "/healthz?x"]
    paths += ["/nowhere", "/tags/no-such-tag/feed.rss", "/feed.rss?page=0", "/?page=x"]
    scopes = ["/", *(f"/tags/{quote(key, safe='')}/" for key in tags)]
    for scope in scopes:
        paths += paged(client, scope, max_pages)
        paths.append(f"{scope}headlines.json")
        paths.append(f"{scope}headlines.json?limit=3")
        for fmt in FEED_FORMATS:
            paths += paged(client, f"{scope}feed.{fmt}", max_pages)
            paths.append(f"{scope}feed.{fmt}?limit=5&page=2")
        paths += [scope + alias for alias in ALIASES]
    for key in tags[:20]:
        encoded = quote(key, safe="")
        paths += [f"/embed/tags/{encoded}", f"/embed/tags/{encoded}?limit=3"]
        paths.append(f"/oembed?url={quote(BASE_URL + '/tags/' + encoded + '/', safe='')}")
        paths += [f"/tags/{quote(key.upper(), safe='')}/feed.atom", f"/tags/{encoded}"]
        paths.append(f"/tags/{encoded}//feed.rss")
    paths.append("/feeds.opml?tags=" + quote(",".join(tags[:5]), safe=""))
    paths += author_paths(client, tags, max_pages)
    paths += search_paths(tags)
    home = gzip.decompress(client.get("/")[2]).decode()
    slugs = re.findall(re.escape(BASE_URL) + r'/articles/([^"?#]+)"', home)
    for tag in tags[:10]:
        page = client.get(f"/tags/{quote(tag, safe='')}/")[2]
        slugs += re.findall(
            re.escape(BASE_URL) + r'/articles/([^"?#]+)"', gzip.decompress(page).decode()
        )
    paths += [f"/articles/{slug}" for slug in dict.fromkeys(slugs)]
    paths.append("/articles/" + quote("no such article"))
    return list(dict.fromkeys(paths))


def start(
    procs: Processes,
    tree: Path,
    corpus: Path,
    state: Path,
    work: Path,
    name: str,
    settings: list[str],
) -> tuple[int, subprocess.Popen[bytes]]:
    port = free_port()
    env = {
        **clean_env(),
        "FEEDSVC_ARTICLES_DIR": str(corpus),
        "FEEDSVC_STATE_DIR": str(state),
        "FEEDSVC_BASE_URL": BASE_URL,
        "FEEDSVC_WATCH": "false",
        "FEEDSVC_ACCESS_LOG": "off",
    }
    for setting in settings:
        name, _, value = setting.partition("=")
        env[name] = value
    command = [sys.executable, "-m", "feedsvc.cli", "serve", "--port", str(port)]
    server = procs.start(command, work / f"{name}.log", env=env, cwd=tree)
    wait_ready(port, server, limit=3600)
    return port, server


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("revisions", nargs="*", default=["HEAD", "."], metavar="REV[,NAME=VALUE]")
    parser.add_argument("--corpus", type=Path, default=ROOT / "articles")
    parser.add_argument("--generate", type=int, metavar="N", help="N realistic articles")
    parser.add_argument("--max-tags", type=int, default=200)
    parser.add_argument("--max-pages", type=int, default=1000)
    parser.add_argument("--show", type=int, default=10, help="differences to print")
    args = parser.parse_args(argv)
    if len(args.revisions) != 2:
        parser.error("give two revisions")
    work = Path(tempfile.mkdtemp(prefix="feedsvc-same-output-"))
    procs = Processes()
    try:
        corpus = args.corpus
        if args.generate:
            corpus = work / "articles"
            generate(corpus, args.generate, max(40, args.generate // 25))
        variants = [revision.split(",") for revision in args.revisions]
        trees = [checkout(revision, work) for revision, *_ in variants]
        first_state, second_state = work / "state-0", work / "state-1"
        port, server = start(procs, trees[0], corpus, first_state, work, "first", variants[0][1:])
        procs.stop(server)
        second_state.mkdir()
        for file in first_state.glob("index.sqlite*"):
            shutil.copy2(file, second_state / file.name)
        ports = []
        for number, tree in enumerate(trees):
            state = first_state if number == 0 else second_state
            settings = variants[number][1:]
            port, _ = start(procs, tree, corpus, state, work, f"serve-{number}", settings)
            ports.append(port)
        clients = [Client(port) for port in ports]
        started = time.monotonic()
        paths = site_paths(clients[0], args.max_tags, args.max_pages)
        differences = 0
        statuses: dict[int, int] = {}
        for path in paths:
            first, second = (client.get(path) for client in clients)
            statuses[first[0]] = statuses.get(first[0], 0) + 1
            if path in STATIC:
                first, second = (without(answer, "last-modified") for answer in (first, second))
            if first != second:
                differences += 1
                if differences <= args.show:
                    describe(path, first, second)
        counts = ", ".join(f"{status}: {n:,}" for status, n in sorted(statuses.items()))
        print(
            f"{len(paths):,} URLs from {args.revisions[0]} and {args.revisions[1]} "
            f"({counts}) in {time.monotonic() - started:.0f} s: {differences} differ"
        )
        return 1 if differences else 0
    finally:
        procs.stop_all()
        time.sleep(0.2)
        remove_checkouts(work)


def without(answer: Answer, header: str) -> Answer:
    return answer[0], tuple(pair for pair in answer[1] if pair[0] != header), answer[2]


def describe(path: str, first: Answer, second: Answer) -> None:
    print(f"DIFFERS {unquote(path)}")
    if first[0] != second[0]:
        print(f"  status {first[0]} != {second[0]}")
    if first[1] != second[1]:
        a, b = dict(first[1]), dict(second[1])
        for name in sorted(set(a) | set(b)):
            if a.get(name) != b.get(name):
                print(f"  {name}: {a.get(name)!r} != {b.get(name)!r}")
    if first[2] != second[2]:
        print(f"  body: {len(first[2])} != {len(second[2])} bytes")


if __name__ == "__main__":
    sys.exit(main())

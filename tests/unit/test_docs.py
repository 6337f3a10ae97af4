"""The README and docs/ stay true to the code: every setting documented with its default,
the commands present, the article example readable, every link between them resolving."""

from __future__ import annotations

import re
import runpy
from pathlib import Path

import pytest
from flask.testing import FlaskClient

from feedsvc.app import create_app
from feedsvc.articles import Stamp, parse_text
from feedsvc.settings import DEFAULTS
from tests.conftest import ROOT

README = (ROOT / "README.md").read_text(encoding="utf-8")
DOCS = sorted((ROOT / "docs").glob("*.md"))
OPERATIONS = (ROOT / "docs" / "operations.md").read_text(encoding="utf-8")
ROW = re.compile(r"^\| `FEEDSVC_([A-Z_]+)` \| ([^|]*) \|", re.MULTILINE)


def documented_defaults() -> dict[str, str]:
    return {name: cell.strip() for name, cell in ROW.findall(OPERATIONS)}


def test_the_settings_table_is_written_from_the_code_s() -> None:
    """Run ``python scripts/settings_reference.py`` after changing a setting."""
    script = runpy.run_path(str(ROOT / "scripts" / "settings_reference.py"))
    assert script["with_reference"](OPERATIONS) == OPERATIONS


def test_every_setting_is_documented_once_and_no_other() -> None:
    names = [name for name, _ in ROW.findall(OPERATIONS)]
    assert sorted(names) == sorted(DEFAULTS)


@pytest.mark.parametrize("name", sorted(DEFAULTS))
def test_each_documented_default_is_the_code_s(name: str) -> None:
    """A setting whose default is empty is described in words (what the empty value
    means); any other shows its value as the code has it (a long text may end in …)."""
    cell = documented_defaults()[name]
    value = DEFAULTS[name]
    if value == "":
        assert cell and not re.fullmatch(r"`[^`]*`", cell), cell
        return
    shown = str(value).lower() if isinstance(value, bool) else str(value)
    match = re.fullmatch(r"`([^`]*)`", cell)
    assert match, cell
    if match.group(1).endswith("…"):
        assert shown.startswith(match.group(1).removesuffix("…").rstrip()), cell
    else:
        assert match.group(1) == shown


def test_readme_opens_with_the_run_and_test_commands() -> None:
    commands = re.findall(r"^    (\S.*)$", README, re.MULTILINE)[:2]
    assert "feedsvc serve" in commands[0] and "pip install" in commands[0]
    assert commands[1] == "scripts/test"
    assert "scripts/test" in (ROOT / ".ci" / "run").read_text()


def test_the_readme_is_for_a_newcomer() -> None:
    assert len(README.splitlines()) < 100
    assert max(len(line) for line in README.splitlines()) < 400


def test_the_readme_article_example_is_an_article() -> None:
    [example] = re.findall(r"```text\n(.*?)```", README, re.DOTALL)
    data = example.encode()
    article, _ = parse_text(
        "/a/2026-03-24-syrian-forces-enter-palmyra.txt", data, Stamp(0, len(data))
    )
    assert article.title == "Syrian forces enter Palmyra"
    assert [tag.label for tag in article.tags][:2] == ["Syria", "Palmyra"]
    assert article.author == "Claire Dubois"


def slug(heading: str) -> str:
    """GitHub's anchor for a heading: lower case, punctuation dropped, spaces made -."""
    text = re.sub(r"[`*_]", "", heading.strip().lower())
    return re.sub(r"[^\w\- ]", "", text).replace(" ", "-")


def anchors(path: Path) -> set[str]:
    found: set[str] = set()
    in_code = False
    for line in path.read_text(encoding="utf-8").splitlines():
        in_code ^= line.startswith("```")
        if not in_code and (heading := re.match(r"^#{1,6} (.*)$", line)):
            anchor = slug(heading.group(1))
            n = 0
            while (candidate := anchor if n == 0 else f"{anchor}-{n}") in found:
                n += 1
            found.add(candidate)
    return found


@pytest.mark.parametrize("page", [ROOT / "README.md", *DOCS], ids=lambda p: p.name)
def test_every_link_between_the_pages_resolves(page: Path) -> None:
    text = re.sub(r"```.*?```", "", page.read_text(encoding="utf-8"), flags=re.DOTALL)
    links = re.findall(r"\]\(([^)\s]+)\)", text)
    local = [link for link in links if not re.match(r"[a-z]+:", link)]
    assert local, page
    for link in local:
        target, _, anchor = link.partition("#")
        path = (page.parent / target).resolve() if target else page
        assert path.exists(), f"{page.name}: {link}"
        if anchor:
            assert anchor in anchors(path), f"{page.name}: {link}"


EXAMPLE = re.compile(r"`(/[^`\s]*)`")
NOT_EXAMPLES = ("<", "…", "/etc/", "/srv/", "/var/", "/static/")
"""Templates (``/tags/<tag>/``, ``/search/?q=…``) and file-system paths."""
DOCUMENTED_ERRORS: dict[str, tuple[int, ...]] = {
    "/tags/-space/": (400,),  # "a NOT alone (`/tags/-space/`) ... is a `400`"
    # "A malformed argument (`/oembed?url=http://[`) is a `400` or `404`"
    "/oembed?url=http://[": (400, 404),
}
"""Example URLs the docs give as answering an error, and the status they say."""


def example_urls() -> list[str]:
    """Every URL path the README and the docs give as an example (in backticks)."""
    found = {
        path
        for text in (README, *(page.read_text(encoding="utf-8") for page in DOCS))
        for path in EXAMPLE.findall(text)
        if not any(part in path for part in NOT_EXAMPLES)
    }
    return sorted(found)


@pytest.fixture(scope="module")
def bundled_site(tmp_path_factory: pytest.TempPathFactory) -> FlaskClient:
    state = tmp_path_factory.mktemp("bundled-state")
    app = create_app(
        {"ARTICLES_DIR": str(ROOT / "articles"), "STATE_DIR": str(state), "WATCH": False}
    )
    return app.test_client()


@pytest.mark.parametrize("path", example_urls())
def test_every_example_url_is_true_on_the_bundled_site(
    bundled_site: FlaskClient, path: str
) -> None:
    """What the README and docs show works on the bundled articles: a `200`, or a
    redirect to a page that answers one; the examples of errors answer the error said."""
    # A path that starts "//" would be read by the test client as a host's: given as is.
    doubled = {"environ_overrides": {"PATH_INFO": path}} if path.startswith("//") else {}
    response = bundled_site.get(path, **doubled)
    if path in DOCUMENTED_ERRORS:
        assert response.status_code in DOCUMENTED_ERRORS[path], response.get_data(as_text=True)
        return
    hops = 0
    while response.status_code in (301, 302, 307, 308) and hops < 3:
        response = bundled_site.get(response.headers["Location"])
        hops += 1
    assert response.status_code == 200, (
        f"{path}: {response.status_code} {response.get_data()[:200]!r}"
    )

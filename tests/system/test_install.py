"""feedsvc installed as users deploy it: ``python -m build``, the wheel into a fresh
virtual environment outside the checkout, ``feedsvc serve`` from there on a copy of the
bundled articles. Every module and data file of ``feedsvc/`` is in the wheel, and the
installed service answers every page and feed, each feed well-formed and read clean."""

from __future__ import annotations

import shutil
import subprocess
import sys
import tarfile
import zipfile
from collections.abc import Iterator
from pathlib import Path

import pytest

from bench.processes import free_port, stop, wait_healthy
from feedsvc.version import VERSION
from tests.conftest import BUNDLED_ARTICLES, ROOT
from tests.system.conftest import LiveServer
from tests.system.test_site import FEED_TYPES, HTML, check_every_feed_link, get, site_scopes

PACKAGE = ROOT / "feedsvc"


def package_files() -> set[str]:
    """Every file of feedsvc/ in the checkout, as a path in the wheel."""
    return {
        path.relative_to(ROOT).as_posix()
        for path in PACKAGE.rglob("*")
        if path.is_file() and "__pycache__" not in path.parts
    }


@pytest.fixture(scope="module")
def built(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, Path]:
    """The wheel and the sdist, built from a copy of the checkout's tracked files."""
    work = tmp_path_factory.mktemp("build")
    source = work / "source"
    tracked = subprocess.run(
        ["git", "ls-files", "-z"], cwd=ROOT, capture_output=True, check=True
    ).stdout.split(b"\0")
    for name in filter(None, tracked):
        path = ROOT / name.decode()
        if path.is_file():  # a file deleted but not yet committed is not copied
            (source / name.decode()).parent.mkdir(parents=True, exist_ok=True)
            shutil.copy2(path, source / name.decode())
    subprocess.run(
        [sys.executable, "-m", "build", "--outdir", str(work / "dist"), str(source)],
        check=True,
        capture_output=True,
    )
    [wheel] = (work / "dist").glob("feedsvc-*.whl")
    [sdist] = (work / "dist").glob("feedsvc-*.tar.gz")
    return wheel, sdist


def test_the_wheel_and_sdist_hold_every_file_of_the_package(built: tuple[Path, Path]) -> None:
    wheel, sdist = built
    assert wheel.name.startswith(f"feedsvc-{VERSION}-")
    with zipfile.ZipFile(wheel) as archive:
        in_wheel = {name for name in archive.namelist() if name.startswith("feedsvc/")}
    assert package_files() - in_wheel == set()
    with tarfile.open(sdist) as archive:
        prefix = f"feedsvc-{VERSION}/"
        in_sdist = {name.removeprefix(prefix) for name in archive.getnames()}
    assert package_files() - in_sdist == set()
    # What builds, tests and deploys it too: an sdist is the project, not only its code.
    for needed in (
        "LICENSE",
        "CHANGELOG.md",
        "docs/operations.md",
        "deploy/systemd/feedsvc.service",
        "tests/conftest.py",
        "articles/2016-03-24-syrian-forces-enter-palmyra.txt",
    ):
        assert needed in in_sdist, needed
    assert not any("node_modules" in name or "__pycache__" in name for name in in_sdist)
    with zipfile.ZipFile(wheel) as archive:
        metadata = next(n for n in archive.namelist() if n.endswith(".dist-info/METADATA"))
        text = archive.read(metadata).decode()
    assert "License-Expression: MIT" in text and "Classifier: Typing :: Typed" in text


@pytest.fixture(scope="module")
def installed(
    built: tuple[Path, Path], tmp_path_factory: pytest.TempPathFactory
) -> Iterator[LiveServer]:
    """``feedsvc serve`` from the wheel in a fresh venv, run from a folder of its own."""
    wheel, _ = built
    home = tmp_path_factory.mktemp("deploy")
    subprocess.run([sys.executable, "-m", "venv", str(home / "venv")], check=True)
    subprocess.run(
        [str(home / "venv/bin/pip"), "install", "--quiet", str(wheel)],
        check=True,
        capture_output=True,
    )
    articles = home / "articles"
    shutil.copytree(BUNDLED_ARTICLES, articles)
    port = free_port()
    url = f"http://127.0.0.1:{port}"
    log = home / "serve.log"
    environment = {
        "PATH": "/usr/bin:/bin",
        "FEEDSVC_BASE_URL": url,
        "FEEDSVC_ARTICLES_DIR": "articles",
    }
    with log.open("wb") as out:
        process = subprocess.Popen(
            [str(home / "venv/bin/feedsvc"), "serve", "--port", str(port)],
            cwd=home,  # nothing of the checkout on the path
            env=environment,
            stdout=out,
            stderr=subprocess.STDOUT,
            start_new_session=True,
        )
    try:
        wait_healthy(port, process)
        yield LiveServer(url, articles, process, log)
    finally:
        stop(process)


def test_the_installed_package_runs_as_a_module(installed: LiveServer) -> None:
    """``python -m feedsvc`` is the ``feedsvc`` command, from the installed wheel."""
    python = installed.articles.parent / "venv/bin/python"
    done = subprocess.run(
        [str(python), "-m", "feedsvc", "--version"], capture_output=True, text=True, check=True
    )
    assert done.stdout.strip() == f"feedsvc, version {VERSION}"


def test_the_installed_service_answers_every_page_and_feed(installed: LiveServer) -> None:
    version = subprocess.run(
        [str(Path(installed.process.args[0])), "--version"],  # type: ignore[index]
        capture_output=True,
        text=True,
        check=True,
    ).stdout
    assert version.strip() == f"feedsvc, version {VERSION}"
    for scope in site_scopes(installed):
        assert get(installed, scope).getheader("Content-Type") == HTML
        for fmt, media_type in FEED_TYPES.items():
            assert get(installed, f"{scope}feed.{fmt}").getheader("Content-Type") == media_type
    for path in ("/tags/", "/healthz", "/feeds.opml", "/tags.json", "/embed.js", "/icon.png"):
        get(installed, path)
    assert check_every_feed_link(installed) > 0  # every feed read clean, every link 200
    assert b"Traceback" not in installed.log.read_bytes()


UNIT = ROOT / "deploy" / "systemd" / "feedsvc.service"


def test_the_systemd_unit_is_valid_and_sandboxed(installed: LiveServer, tmp_path: Path) -> None:
    """The shipped unit, its command pointed at the installed wheel: systemd finds nothing
    to say about it, and rates its exposure 2.0 or less out of 10 ("OK")."""
    command = str(installed.process.args[0])  # type: ignore[index]
    unit = tmp_path / "feedsvc.service"
    unit.write_text(UNIT.read_text().replace("/opt/feedsvc/bin/feedsvc", command))
    verify = subprocess.run(
        ["systemd-analyze", "verify", str(unit)], capture_output=True, text=True
    )
    assert (verify.returncode, verify.stdout + verify.stderr) == (0, "")
    security = subprocess.run(
        ["systemd-analyze", "security", "--offline=yes", "--threshold=20", str(unit)],
        capture_output=True,
        text=True,
    )
    assert security.returncode == 0, security.stdout[-2000:]

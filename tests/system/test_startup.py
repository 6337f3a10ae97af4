"""What the service starts with is checked before it starts: settings, folders, the port.

A bad setting stops every command (``serve``, ``check``, ``render``, ``index``) with
one line naming it and exit status 2; an articles folder that is missing, not a
folder or unreadable, and a port already taken, stop ``feedsvc serve`` with one line
and a non-zero status. Never a traceback, never a server answering "ok" on nothing.
"""

from __future__ import annotations

import contextlib
import os
import re
import shutil
import signal
import socket
import subprocess
import sys
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest

from bench.processes import descendants, free_port
from feedsvc.app import create_app
from feedsvc.cli import STOP_SECONDS
from feedsvc.settings import Settings, SettingsError
from tests.conftest import WriteArticle, wait_until
from tests.system.conftest import LiveServer

# Long enough for a server that wrongly starts to be caught running, not so long
# that a failing run drags on.
SERVE_DEADLINE = 20


def feedsvc(
    *args: str | Path, env: dict[str, str] | None = None, wrap: tuple[str, ...] = ()
) -> subprocess.CompletedProcess[str]:
    """Run ``feedsvc ARGS`` as people do; a server still running at the deadline is
    stopped, and the test fails (it should have refused to start)."""
    base = {k: v for k, v in os.environ.items() if not k.startswith("FEEDSVC_")}
    command = [*wrap, sys.executable, "-m", "feedsvc.cli", *map(str, args)]
    process = subprocess.Popen(
        command,
        env={**base, **(env or {})},
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    try:
        stdout, stderr = process.communicate(timeout=SERVE_DEADLINE)
    except subprocess.TimeoutExpired:
        process.terminate()
        try:
            stdout, stderr = process.communicate(timeout=10)
        except subprocess.TimeoutExpired:
            process.kill()
            stdout, stderr = process.communicate()
        pytest.fail(f"feedsvc {' '.join(map(str, args))} was still running: {stderr[-2000:]}")
    return subprocess.CompletedProcess(command, process.returncode, stdout, stderr)


def one_line(result: subprocess.CompletedProcess[str]) -> str:
    """The single line the command printed on standard error."""
    assert "Traceback" not in result.stderr, result.stderr
    lines = result.stderr.splitlines()
    assert len(lines) == 1, result.stderr
    assert lines[0].startswith("feedsvc: "), lines[0]
    return lines[0]


# Settings: ranges, types, control characters --------------------------------------------


@pytest.mark.parametrize(
    ("setting", "value"),
    [
        ("WATCH_INTERVAL", 0),
        ("WATCH_INTERVAL", -1),
        ("WATCH_INTERVAL", 0.0),
        ("WATCH_INTERVAL", "abc"),
        ("WATCH_INTERVAL", float("nan")),
        ("WATCH_INTERVAL", float("inf")),
        ("WATCH_INTERVAL", True),
        ("RESCAN_SECONDS", 0),
        ("RESCAN_SECONDS", -30.0),
        ("RESCAN_SECONDS", "abc"),
        ("RESCAN_SECONDS", 1e300),
        ("WATCH", "maybe"),
        ("MAX_KEYWORDS", 0),
        ("ITEM_CONTENT_BYTES", 10),
        ("ITEM_CONTENT_BYTES", 50_000_000),
    ],
)
def test_a_number_out_of_range_or_of_the_wrong_type_is_refused(setting: str, value: Any) -> None:
    """An interval of 0 made the idle watcher spin at 100% CPU; "abc" was a traceback."""
    with pytest.raises(SettingsError, match=f"^FEEDSVC_{setting} must be "):
        Settings.from_mapping({setting: value})


@pytest.mark.parametrize("setting", ["SITE_TITLE", "SITE_DESCRIPTION", "AUTHOR", "LANGUAGE"])
@pytest.mark.parametrize("control", ["\x07", "\x00", "\n", "\x1b", "\x7f", "\x85", "\ud800"])
def test_a_control_character_in_a_text_setting_is_refused(setting: str, control: str) -> None:
    """One in the site title or the author made every feed a 500 and the OPML ill-formed."""
    message = f"FEEDSVC_{setting} holds the control character U+{ord(control):04X} at position 3"
    with pytest.raises(SettingsError, match=f"^{re.escape(message)}"):
        Settings.from_mapping({setting: f"en{control}x"})


@pytest.mark.parametrize(
    ("setting", "value"),
    [("LANGUAGE", "en us"), ("LANGUAGE", ""), ("TIME_ZONE", ""), ("SITE_TITLE", None)],
)
def test_other_unusable_text_settings_are_refused(setting: str, value: Any) -> None:
    with pytest.raises(SettingsError, match=f"^FEEDSVC_{setting} "):
        Settings.from_mapping({setting: value})


def test_text_settings_from_the_environment_are_taken_as_written() -> None:
    from feedsvc.settings import from_environment

    given = from_environment(
        {"FEEDSVC_SITE_TITLE": "2026", "FEEDSVC_AUTHOR": "null", "FEEDSVC_FEED_ITEMS": "5"}
    )
    settings = Settings.from_mapping(given)
    assert (settings.site_title, settings.author, settings.feed_items) == ("2026", "null", 5)


def test_good_limits_are_accepted() -> None:
    settings = Settings.from_mapping(
        {"WATCH_INTERVAL": 0.5, "RESCAN_SECONDS": 60, "MAX_KEYWORDS": 20, "WATCH": "false"}
    )
    assert (settings.watch_interval, settings.rescan_seconds) == (0.5, 60.0)
    assert (settings.max_keywords, settings.watch) == (20, False)
    assert Settings.from_mapping({}).item_content_bytes == 100_000


@pytest.mark.parametrize("command", ["serve", "check", "render", "index"])
@pytest.mark.parametrize(
    ("variable", "value"),
    [
        pytest.param("FEEDSVC_WATCH_INTERVAL", "abc", id="float-abc"),
        pytest.param("FEEDSVC_RESCAN_SECONDS", "0", id="rescan-0"),
        pytest.param("FEEDSVC_SITE_TITLE", "News\x07", id="title-control"),
    ],
)
def test_every_command_stops_on_a_bad_setting_with_one_line_and_status_2(
    articles_dir: Path, write_article: WriteArticle, command: str, variable: str, value: str
) -> None:
    write_article("2026-01-01-a.txt")
    args = [command] + (["--port", str(free_port())] if command == "serve" else [articles_dir])
    result = feedsvc(*args, env={"FEEDSVC_ARTICLES_DIR": str(articles_dir), variable: value})
    assert result.returncode == 2, result.stderr
    assert one_line(result).startswith(f"feedsvc: {variable} ")
    assert result.stdout == ""


def test_serve_refuses_an_author_with_a_control_character(
    articles_dir: Path, write_article: WriteArticle
) -> None:
    write_article("2026-01-01-a.txt")
    result = feedsvc(
        "serve",
        "--port",
        str(free_port()),
        env={"FEEDSVC_ARTICLES_DIR": str(articles_dir), "FEEDSVC_AUTHOR": "Desk\x1b[31m"},
    )
    assert result.returncode == 2
    assert one_line(result) == (
        "feedsvc: FEEDSVC_AUTHOR holds the control character U+001B at position 5: 'Desk\\x1b[31m'"
    )


# The articles folder ----------------------------------------------------------------


def unreadable_folder(tmp_path: Path) -> tuple[Path, tuple[str, ...]]:
    """A folder this process cannot list, and the command prefix that makes it so for root
    (who reads any folder unless the capabilities to are dropped)."""
    folder = tmp_path / "locked"
    folder.mkdir()
    folder.chmod(0)
    if os.geteuid() != 0:
        return folder, ()
    setpriv = shutil.which("setpriv")
    if setpriv is None:
        pytest.skip("running as root without setpriv: no folder is unreadable")
    return folder, (setpriv, "--bounding-set=-dac_override,-dac_read_search")


@pytest.fixture(params=["missing", "a-file", "unreadable"])
def bad_folder(request: pytest.FixtureRequest, tmp_path: Path) -> tuple[Path, tuple[str, ...], str]:
    """An articles folder that cannot be served, the command prefix, and why."""
    kind = request.param
    if kind == "missing":
        return tmp_path / "nowhere", (), "No such file or directory"
    if kind == "a-file":
        path = tmp_path / "articles.txt"
        path.write_text("not a folder\n")
        return path, (), "Not a directory"
    folder, wrap = unreadable_folder(tmp_path)
    return folder, wrap, "Permission denied"


@pytest.mark.parametrize("command", ["serve", "check"])
def test_an_articles_folder_that_cannot_be_listed_stops_the_start(
    bad_folder: tuple[Path, tuple[str, ...], str], tmp_path: Path, command: str
) -> None:
    """It used to serve an empty site answering "status": "ok"."""
    folder, wrap, reason = bad_folder
    env = {"FEEDSVC_ARTICLES_DIR": str(folder), "FEEDSVC_STATE_DIR": str(tmp_path / "state")}
    args = ["serve", "--port", str(free_port())] if command == "serve" else ["check", folder]
    result = feedsvc(*args, env=env, wrap=wrap)
    assert result.returncode == 1, result.stderr
    assert one_line(result) == (
        f"feedsvc: cannot list the articles directory {folder}: {reason} (give the folder on "
        "the command line, or set FEEDSVC_ARTICLES_DIR)"
    )


def test_the_app_refuses_an_articles_folder_that_is_not_there(tmp_path: Path) -> None:
    """Under any WSGI server too: an exception at start, not an empty site."""
    with pytest.raises(SettingsError, match=r"cannot list the articles directory .*nowhere"):
        create_app({"ARTICLES_DIR": str(tmp_path / "nowhere"), "WATCH": False})


def test_serve_refuses_a_state_directory_it_cannot_make(
    articles_dir: Path, write_article: WriteArticle, tmp_path: Path
) -> None:
    write_article("2026-01-01-a.txt")
    blocker = tmp_path / "blocker"
    blocker.write_text("a file where the state directory's parent should be\n")
    env = {"FEEDSVC_ARTICLES_DIR": str(articles_dir), "FEEDSVC_STATE_DIR": str(blocker / "s")}
    result = feedsvc("serve", "--port", str(free_port()), env=env)
    assert result.returncode == 1
    assert one_line(result) == f"feedsvc: cannot create the state directory {blocker / 's'}: " + (
        "Not a directory"
    )


# The port ---------------------------------------------------------------------------


def test_a_port_already_in_use_is_one_line_not_a_backtrace(
    articles_dir: Path, write_article: WriteArticle
) -> None:
    """It printed granian's 137-line Rust and Python backtrace."""
    write_article("2026-01-01-a.txt")
    with socket.socket() as taken:
        taken.bind(("127.0.0.1", 0))
        taken.listen()
        port = taken.getsockname()[1]
        result = feedsvc(
            "serve", "--port", str(port), env={"FEEDSVC_ARTICLES_DIR": str(articles_dir)}
        )
    assert result.returncode == 1
    assert one_line(result) == f"feedsvc: cannot listen on 127.0.0.1:{port}: Address already in use"


def test_a_worker_that_never_stops_does_not_hold_the_stop(
    write_article: WriteArticle, live_server: Callable[..., LiveServer]
) -> None:
    """``feedsvc serve`` told to stop kills a worker still running after ``STOP_SECONDS``
    (a stopped process stands for one stuck in its stop) and exits; it used to wait
    for it forever."""
    write_article("2026-01-01-a.txt", title="A", keywords="alpha")
    server = live_server(args=("--workers", "2"))
    workers = descendants(server.process.pid)
    assert workers
    stuck = workers[0]
    os.kill(stuck, signal.SIGSTOP)
    try:
        server.process.terminate()
        server.process.wait(timeout=STOP_SECONDS + 30)  # else it hangs: TimeoutExpired
        wait_until(lambda: not _alive(stuck), 10, "the stuck worker ending")
    finally:
        with contextlib.suppress(ProcessLookupError):
            os.kill(stuck, signal.SIGKILL)


def _alive(pid: int) -> bool:
    try:
        state = Path(f"/proc/{pid}/stat").read_text().rpartition(")")[2].split()[0]
    except OSError:
        return False
    return state != "Z"  # a zombie has ended; only its parent's wait is missing

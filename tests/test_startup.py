"""Settings are checked before the service starts.

A bad setting stops every command (``serve``, ``check``, ``render``, ``index``) with
one line naming it and exit status 2, never a traceback.
"""

from __future__ import annotations

import os
import re
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest

from feedsvc.settings import Settings, SettingsError
from tests.conftest import WriteArticle, free_port

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
        {"WATCH_INTERVAL": 0.5, "RESCAN_SECONDS": 60, "WATCH": "false"}
    )
    assert (settings.watch_interval, settings.rescan_seconds) == (0.5, 60.0)
    assert settings.watch is False


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

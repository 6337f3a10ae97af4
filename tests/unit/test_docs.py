"""The README stays true to the code: every setting documented, the commands present."""

from __future__ import annotations

import re

import pytest

from feedsvc.settings import DEFAULTS
from tests.conftest import ROOT

README = (ROOT / "README.md").read_text(encoding="utf-8")


@pytest.mark.parametrize("name", sorted(DEFAULTS))
def test_setting_is_documented(name: str) -> None:
    assert re.search(rf"^\| `FEEDSVC_{name}` \|", README, re.MULTILINE), name


def test_documented_settings_exist() -> None:
    documented = set(re.findall(r"^\| `FEEDSVC_([A-Z_]+)` \|", README, re.MULTILINE))
    assert documented == set(DEFAULTS)


def test_readme_opens_with_the_run_and_test_commands() -> None:
    commands = re.findall(r"^    (\S.*)$", README, re.MULTILINE)[:2]
    assert "feedsvc serve" in commands[0]
    assert commands[1] == "scripts/test"
    assert "scripts/test" in (ROOT / ".ci" / "run").read_text()

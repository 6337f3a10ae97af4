"""The line between the tiers: a fast-tier module that could start a process, a server or
a browser is found at collection, whatever name it imports it under."""

from __future__ import annotations

import types

import pytest

from tests.conftest import system_use


def module(source: str) -> types.ModuleType:
    made = types.ModuleType("tests.unit.made_up")
    exec(source, made.__dict__)
    return made


@pytest.mark.parametrize(
    ("source", "found"),
    [
        ("import subprocess", "subprocess comes from subprocess"),
        ("import subprocess as sp", "sp comes from subprocess"),
        ("from subprocess import Popen", "Popen comes from subprocess"),
        ("from http.server import HTTPServer", "HTTPServer comes from http.server"),
        ("from bench.processes import free_port", "free_port comes from bench.processes"),
        ("from tests.system.conftest import serving", "serving comes from tests.system.conftest"),
        ("import bench.corpus", "bench comes from bench"),
    ],
)
def test_what_starts_something_is_found(source: str, found: str) -> None:
    assert system_use(module(source)) == found


@pytest.mark.parametrize(
    "source",
    [
        "import json, threading, http.client",
        "from feedsvc.app import create_app",
        "from tests.conftest import article_text",
        "subprocessing = 1",
        "benchmark = 'bench'",
    ],
)
def test_what_runs_in_this_process_is_allowed(source: str) -> None:
    assert system_use(module(source)) is None

"""The version of feedsvc, as installed: ``[project] version`` of pyproject.toml, its one
source."""

from __future__ import annotations

from importlib.metadata import PackageNotFoundError, version

try:
    VERSION = version("feedsvc")
except PackageNotFoundError:  # run from a checkout that was never installed
    VERSION = "0+unknown"

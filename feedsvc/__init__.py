"""feedsvc: articles on disk served as RSS 2.0, Atom 1.0 and JSON Feed 1.1.

Importing the package pulls in nothing else, so ``feedsvc.articles`` works without
Flask; ``create_app`` imports the web layer only when called (``flask --app feedsvc``).
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from collections.abc import Mapping

    from flask import Flask


def create_app(test_config: Mapping[str, Any] | None = None) -> Flask:
    """Create the Flask application (see :func:`feedsvc.app.create_app`)."""
    from .app import create_app as factory

    return factory(test_config)

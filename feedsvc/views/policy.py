"""What a browser may do with our answers: content security policies and the headers
that say them, for pages, embeds and errors alike.
"""

from __future__ import annotations

import base64
import hashlib
from pathlib import Path

from flask import Response

from ..urls import HEALTH_PATH

STATIC_DIR = Path(__file__).parent.parent / "static"
SITE_CSS = (STATIC_DIR / "site.css").read_text("utf-8")
PAGE_SCRIPT = (STATIC_DIR / "page.js").read_text("utf-8")
"""The pages' style sheet and the tag page's script, inlined and allowed by their hashes."""


def source_hash(text: str) -> str:
    """A CSP hash source for an inline ``<style>`` or ``<script>`` of exactly ``text``."""
    return f"'sha256-{base64.b64encode(hashlib.sha256(text.encode()).digest()).decode()}'"


PAGE_POLICY = (
    "default-src 'none'; "
    f"script-src {source_hash(PAGE_SCRIPT)}; "
    f"style-src {source_hash(SITE_CSS)}; "
    # Article pictures may be on any host.
    "img-src http: https:; "
    "frame-ancestors 'none'; base-uri 'none'; form-action 'none'"
)
"""The HTML pages: nothing but their own style and script, the pictures, and no framing."""
SEARCH_POLICY = PAGE_POLICY.replace("form-action 'none'", "form-action 'self'")
"""The search page's: its form sends the words to the page itself."""
ERROR_POLICY = "default-src 'none'; frame-ancestors 'none'; base-uri 'none'; form-action 'none'"
"""Errors, redirects and other plain text: nothing at all."""
NOT_CROSS_ORIGIN = frozenset({"pages.healthz"})
NOT_CROSS_ORIGIN_PATHS = frozenset({HEALTH_PATH})
"""Their paths: a 405 there is answered before any endpoint is known."""
"""Endpoints that get no CORS headers: they are for the operators, not for other sites."""


def policy_headers(policy: str) -> tuple[tuple[str, str], ...]:
    """The headers that say ``policy``, and that no page of ours leaks where it came from.

    The page is framed only where ``policy``'s ``frame-ancestors`` allows it.
    """
    headers: tuple[tuple[str, str], ...] = (
        ("Content-Security-Policy", policy),
        ("Referrer-Policy", "same-origin"),
    )
    if "frame-ancestors 'none'" in policy:
        headers += (("X-Frame-Options", "DENY"),)
    return headers


def secure(response: Response, policy: str = ERROR_POLICY) -> Response:
    """Add the security headers of an error, a redirect or other plain text to ``response``."""
    (name, value), *more = policy_headers(policy)
    response.headers[name] = value
    response.headers["X-Content-Type-Options"] = "nosniff"
    response.headers.extend(more)
    return response

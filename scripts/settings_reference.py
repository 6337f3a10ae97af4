"""Write the settings table of docs/operations.md from feedsvc/settings.py's TABLE.

    python scripts/settings_reference.py

The table sits between two comment lines in the docs; the docs test fails while it
differs from what this writes.
"""

from __future__ import annotations

import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from feedsvc.settings import reference  # noqa: E402

OPERATIONS = ROOT / "docs" / "operations.md"
BEGIN = (
    "<!-- settings table: written by scripts/settings_reference.py from feedsvc/settings.py -->\n"
)
END = "<!-- end of the settings table -->\n"


def with_reference(text: str) -> str:
    """``text`` with the table between :data:`BEGIN` and :data:`END` made anew."""
    head, found, rest = text.partition(BEGIN)
    if not found or END not in rest:
        raise SystemExit(f"{OPERATIONS}: the settings table's marker lines are missing")
    return head + BEGIN + reference() + "\n" + END + rest.partition(END)[2]


if __name__ == "__main__":
    OPERATIONS.write_text(with_reference(OPERATIONS.read_text("utf-8")), "utf-8")

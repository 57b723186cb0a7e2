"""A server's answer as one line an error can quote: its status line, and of an HTML page
only its `<title>`.

A Toxiproxy or Prometheus URL that points at a web server (a typo'd port, a reverse proxy's
login page) answers with a whole HTML page; quoting it buries the one fact that matters (the
URL serves web pages, not the API) under forty lines of markup. Pure.
"""

from __future__ import annotations

import html
import http
import re

LIMIT = 160
"""Characters of a non-HTML body an error quotes (the rest is elided)."""

_TITLE = re.compile(r"<title[^>]*>(.*?)</title\s*>", re.IGNORECASE | re.DOTALL)
_HTML = re.compile(
    r"^\s*(?:<!doctype\s+html|<html|<head|<body|<\?xml[^>]*>\s*<html)", re.IGNORECASE
)


def status_line(status: int) -> str:
    """``HTTP 404 Not Found`` (the number alone for a status Python does not name)."""
    try:
        return f"HTTP {status} {http.HTTPStatus(status).phrase}"
    except ValueError:
        return f"HTTP {status}"


def is_html(body: bytes | str, content_type: str = "") -> bool:
    text = body.decode(errors="replace") if isinstance(body, bytes) else body
    return "html" in content_type.lower() or _HTML.match(text[:512]) is not None


def quoted_body(body: bytes | str, content_type: str = "") -> str:
    """An HTML page as ``an HTML page titled "…"``; other text on one line, elided past
    ``LIMIT`` characters; ``(empty body)`` when there is none."""
    text = body.decode(errors="replace") if isinstance(body, bytes) else body
    if is_html(text, content_type):
        found = _TITLE.search(text)
        title = " ".join(html.unescape(found.group(1)).split()) if found else ""
        page = f"an HTML page titled {title[:LIMIT]!r}" if title else "an HTML page without a title"
        return page + " (a web page, not the API: is the URL the API's address and port?)"
    line = " ".join(text.split())
    if not line:
        return "(empty body)"
    return line if len(line) <= LIMIT else line[:LIMIT] + "…"

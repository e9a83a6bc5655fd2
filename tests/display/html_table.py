"""Read tables back out of a report page (stdlib html.parser), to compare with summary.json."""

from __future__ import annotations

from html.parser import HTMLParser


class TableReader(HTMLParser):
    """Rows of the table with the given id: each row a dict of ``data-col`` (or ``data-key``) -> text."""

    def __init__(self, table_id: str) -> None:
        super().__init__()
        self.table_id = table_id
        self.rows: dict[str, dict[str, str]] = {}
        self._inside = False
        self._row: str | None = None
        self._col: str | None = None

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        attributes = dict(attrs)
        if tag == "table":
            self._inside = attributes.get("id") == self.table_id
        elif self._inside and tag == "tr" and attributes.get("data-key") is not None:
            self._row = attributes["data-key"]
            self.rows[self._row or ""] = {}
        elif self._inside and tag == "td" and self._row is not None:
            self._col = attributes.get("data-col")

    def handle_endtag(self, tag: str) -> None:
        if tag == "table":
            self._inside = False
        elif tag == "td":
            self._col = None

    def handle_data(self, data: str) -> None:
        if self._row is not None and self._col is not None:
            self.rows[self._row][self._col] = self.rows[self._row].get(self._col, "") + data


def read_table(html: str, table_id: str) -> dict[str, dict[str, str]]:
    """The table's rows keyed by their ``data-key``."""
    reader = TableReader(table_id)
    reader.feed(html)
    return reader.rows

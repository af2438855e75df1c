"""Output of the ops commands: rich tables and lines for people, JSON lines (``--json``) for pipes."""

from __future__ import annotations

import json
import sys
from typing import Any, TextIO

from rich.console import Console
from rich.table import Table

from shared.messaging.reader import Message


class Output:
    def __init__(self, json_lines: bool = False, stream: TextIO | None = None, err: TextIO | None = None) -> None:
        self.json_lines = json_lines
        self.stream = stream or sys.stdout
        # Piped or redirected: wide enough that tables are not cut to 80 columns.
        width = None if getattr(self.stream, "isatty", lambda: False)() else 240
        self.console = Console(file=self.stream, highlight=False, soft_wrap=True, width=width)
        self.err = Console(file=err or sys.stderr, highlight=False, soft_wrap=True)

    def emit(self, obj: dict[str, Any]) -> None:
        self.stream.write(json.dumps(obj, ensure_ascii=False, default=str) + "\n")
        self.stream.flush()

    def note(self, text: str) -> None:
        """Progress and prompts go to stderr, so ``--json`` output stays pipeable."""
        self.err.print(text)

    def message(self, m: Message, **extra: Any) -> None:
        if self.json_lines:
            self.emit({**m.as_json(), **extra})
            return
        when = m.time.strftime("%Y-%m-%d %H:%M:%S.%f")[:-3]
        kind = m.event_type or "[red]undecodable[/red]"
        line = f"[dim]{when}[/dim] [cyan]{m.topic}[/cyan][{m.partition}]@{m.offset} [bold]{kind}[/bold]"
        if m.subject:
            line += f" subject={m.subject}"
        if m.clusters:
            line += f" cluster={','.join(sorted(m.clusters))}"
        if m.correlation_id:
            line += f" [magenta]corr={m.correlation_id}[/magenta]"
        for key, value in extra.items():
            line += f" {key}={value}"
        self.console.print(line, markup=True)

    def rows(self, title: str, columns: list[str], rows: list[dict[str, Any]]) -> None:
        if self.json_lines:
            for row in rows:
                self.emit(row)
            return
        table = Table(title=title, title_justify="left")
        for column in columns:
            table.add_column(column)
        for row in rows:
            table.add_row(*("" if row.get(c) is None else str(row.get(c)) for c in columns))
        self.console.print(table)

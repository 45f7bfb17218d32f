"""The CLI's consoles and its one way of ending on a user error."""

from __future__ import annotations

import typer
from rich.console import Console

EXIT_TASK_FAILED = 1
EXIT_USER_ERROR = 2
EXIT_REJECTED = 3

console = Console()
err_console = Console(stderr=True)


def fail(message: str, code: int = EXIT_USER_ERROR) -> None:
    """Print ``error: <message>`` as one line on stderr and exit with ``code`` (no traceback)."""
    err_console.print(f"[bold red]error:[/] {message}", highlight=False, soft_wrap=True)
    raise typer.Exit(code)

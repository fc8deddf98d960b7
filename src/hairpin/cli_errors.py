"""How the ``hairpin`` command reports a failure: hairpin's own errors and disk errors as one line and exit code 2.

``HairpinGroup`` is the click group of every ``hairpin`` command. A ``HairpinError`` (a bad config, map, dataset,
checkpoint, run manifest, artifact, a locked run…) or an ``OSError`` (a read-only folder, a full disk, a missing
file) becomes ``error: <what>`` on stderr and exit code 2. Any other exception is a bug and keeps its traceback.
``hairpin --debug …`` or ``HAIRPIN_DEBUG=1`` shows the traceback of every failure.
"""

from __future__ import annotations

import errno
import os
from typing import Any

import typer
from rich.console import Console
from rich.markup import escape
from typer.core import TyperGroup

from hairpin.errors import HairpinError

__all__ = ["DEBUG_ENV", "DEBUG_META", "HairpinGroup", "describe_failure", "print_failure"]

DEBUG_ENV = "HAIRPIN_DEBUG"
"""Set to 1 to see the traceback of every failure (as ``hairpin --debug``)."""
MAX_DETAIL_LINES = 8
"""Detail lines of a multi-line message kept on its one line; the rest are counted."""

_DISK_ADVICE = {
    errno.ENOSPC: "the disk is full: free some space, or write elsewhere with paths.runs, --out or --root",
    errno.EDQUOT: "the disk quota is used up: free some space or write elsewhere",
    errno.EROFS: "the file system is read-only: write elsewhere with paths.runs, --out or --root",
    errno.EACCES: "permission denied: make the folder writable or write elsewhere",
    errno.EPERM: "permission denied: make the folder writable or write elsewhere",
}

_stderr = Console(stderr=True, soft_wrap=True, highlight=False)


DEBUG_META = "hairpin.debug"
"""Key of ``click.Context.meta`` that ``hairpin --debug`` sets for this invocation."""


def debug_enabled(ctx: typer.Context | None = None) -> bool:
    return bool(ctx is not None and ctx.meta.get(DEBUG_META)) or os.environ.get(DEBUG_ENV, "") not in ("", "0")


def _one_line(message: str) -> str:
    lines = [line.strip() for line in message.strip().splitlines() if line.strip()]
    if not lines:
        return "(no message)"
    head, details = lines[0], lines[1:]
    if len(details) > MAX_DETAIL_LINES:
        hidden = len(details) - MAX_DETAIL_LINES
        details = [*details[:MAX_DETAIL_LINES], f"… and {hidden} more"]
    return "; ".join([head.rstrip(":"), *details]) if details else head


def describe_failure(err: BaseException) -> str | None:
    """The one line that reports ``err``, or None when it is not hairpin's own failure (a bug)."""
    if isinstance(err, HairpinError):
        return _one_line(str(err))
    if isinstance(err, OSError):
        where = f"{err.filename}: " if err.filename else ""
        advice = _DISK_ADVICE.get(err.errno or -1)
        what = err.strerror or str(err)
        return f"{where}{what}" + (f" ({advice})" if advice else "")
    return None


def print_failure(message: str) -> None:
    _stderr.print(f"[red]error:[/red] {escape(message)}")


class HairpinGroup(TyperGroup):
    """The click group of the ``hairpin`` command: reports hairpin's own failures as one line, exit code 2."""

    def invoke(self, ctx: Any) -> Any:  # typer's vendored click.Context
        try:
            return super().invoke(ctx)
        except (HairpinError, OSError) as err:
            message = describe_failure(err)
            if debug_enabled(ctx) or message is None:
                raise
            print_failure(message)
            raise typer.Exit(2) from err

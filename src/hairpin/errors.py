"""The root of hairpin's own errors: bad input or files a user can fix (config, map, dataset, checkpoint, run).

Every such error derives from ``HairpinError``; the ``hairpin`` command prints one as a single line and exits with
code 2 (``--debug`` or ``HAIRPIN_DEBUG=1`` shows the traceback). An exception that is not a ``HairpinError`` (nor
an ``OSError`` from the disk) is a bug and keeps its traceback.
"""

from __future__ import annotations

__all__ = ["HairpinError"]


class HairpinError(Exception):
    """A failure of hairpin's inputs or files, worded for the user: what is wrong, which file or key, what to do."""

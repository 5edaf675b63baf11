"""Which documents a producer has already published (survives restarts).

One append-only TSV file per topic under ``<state_dir>/producers/``::

    document_id <TAB> uri <TAB> local path or "" <TAB> size <TAB> mtime_ns

A line is appended only from a delivery report that says the broker
acknowledged the ``DocumentRef`` (so a crash before the report means the
document is published again on the next run: at-least-once, never lost).
Lines are flushed as they are written and fsynced on :meth:`close`; a torn
last line from a crash is ignored on load.
"""

from __future__ import annotations

import logging
import os
import re
from pathlib import Path
from typing import TextIO

from ocrstream.settings import Settings

log = logging.getLogger(__name__)


def ledger_path(settings: Settings, topic: str) -> Path:
    """The ledger file for ``topic`` (topic name made file-system safe)."""
    safe = re.sub(r"[^A-Za-z0-9._-]", "_", topic)
    return settings.state_dir / "producers" / f"published-{safe}.tsv"


class PublishLedger:
    """Set of acknowledged document ids (and file identities) for one topic."""

    def __init__(self, path: Path) -> None:
        self.path = path
        self.ids: set[str] = set()
        self.files: set[tuple[str, int, int]] = set()  # (abs path, size, mtime_ns)
        if path.exists():
            for line in path.read_text(encoding="utf-8", errors="replace").splitlines():
                parts = line.split("\t")
                if len(parts) != 5 or len(parts[0]) < 8:
                    continue  # torn or foreign line
                self.ids.add(parts[0])
                if parts[2]:
                    try:
                        self.files.add((parts[2], int(parts[3]), int(parts[4])))
                    except ValueError:
                        pass
        self._fh: TextIO | None = None

    def __contains__(self, document_id: object) -> bool:
        return document_id in self.ids

    def __len__(self) -> int:
        return len(self.ids)

    def knows_file(self, path: Path, size: int, mtime_ns: int) -> bool:
        """True when this exact file (path, size, mtime) was published before."""
        return (str(path), size, mtime_ns) in self.files

    def record(self, document_id: str, uri: str, path: Path | None = None,
               size: int = 0, mtime_ns: int = 0) -> None:
        """Remember an acknowledged document (call from the delivery report only)."""
        if self._fh is None:
            self.path.parent.mkdir(parents=True, exist_ok=True)
            self._fh = open(self.path, "a", encoding="utf-8")
        p = str(path) if path is not None else ""
        self._fh.write(f"{document_id}\t{uri}\t{p}\t{size}\t{mtime_ns}\n")
        self._fh.flush()
        self.ids.add(document_id)
        if p:
            self.files.add((p, size, mtime_ns))

    def close(self) -> None:
        if self._fh is not None:
            self._fh.flush()
            os.fsync(self._fh.fileno())
            self._fh.close()
            self._fh = None

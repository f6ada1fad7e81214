"""Catch a test reading beside the repository (say ``../shared``), which a fresh clone lacks.

An audit hook sees every file the test process opens; a path under the repository's parent
folder but outside the repository is recorded, and conftest fails the session if any was.
"""

from __future__ import annotations

import os
import sys
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]


class OutsideReads:
    """Records files opened beside the repository while installed as an audit hook."""

    def __init__(self, repo: Path = REPO) -> None:
        self._repo = str(repo) + os.sep
        self._beside = str(repo.parent) + os.sep
        self.seen: list[str] = []

    def is_outside(self, path: str) -> bool:
        """True for a path beside the repository (under its parent, not under itself)."""
        absolute = os.path.abspath(path) + os.sep
        return absolute.startswith(self._beside) and not absolute.startswith(self._repo)

    def __call__(self, event: str, args: tuple) -> None:
        if event != "open" or not args or not isinstance(args[0], str | bytes):
            return
        path = os.fsdecode(args[0])
        if self.is_outside(path):
            self.seen.append(path)

    def install(self) -> OutsideReads:
        """Start watching; audit hooks cannot be removed, so install once per session."""
        sys.addaudithook(self)
        return self

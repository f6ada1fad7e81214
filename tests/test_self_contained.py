"""A clone of this repository, with nothing beside it, has all its tests and CI read."""

from __future__ import annotations

import shutil
import subprocess
import sys
from pathlib import Path

from tests.outside_reads import REPO, OutsideReads


def test_the_guard_flags_a_file_beside_the_repository_and_nothing_inside() -> None:
    guard = OutsideReads(REPO)
    assert guard.is_outside(str(REPO.parent / "shared" / "seeds" / "000.txt"))
    assert guard.is_outside(str(REPO / ".." / "shared" / "slack" / "schema.json"))
    assert not guard.is_outside(str(REPO / "tests" / "reference" / "slack" / "LICENSE"))
    assert not guard.is_outside(str(Path.home() / "elsewhere" / "store.sqlite"))


def test_the_guard_records_what_the_process_opens(tmp_path: Path) -> None:
    # A stand-in repository inside tmp_path, and a file beside it that a careless test reads.
    repo = tmp_path / "clone"
    repo.mkdir()
    beside = tmp_path / "shared.txt"
    beside.write_text("not part of the clone")
    guard = OutsideReads(repo)
    guard(event="open", args=(str(beside), "r", 0))
    guard(event="open", args=(str(repo / "README.md"), "r", 0))
    assert guard.seen == [str(beside)]


def test_ci_manifest_check_passes_in_a_clone_with_nothing_beside_it(tmp_path: Path) -> None:
    clone = tmp_path / "alone" / "ticketbot"
    untracked = shutil.ignore_patterns(".git", ".venv", "__pycache__", "*.egg-info", ".*_cache")
    shutil.copytree(REPO, clone, ignore=untracked)
    assert not (clone.parent / "shared").exists()
    result = subprocess.run(
        [sys.executable, ".ci/check_manifest.py"], cwd=clone, capture_output=True, text=True
    )
    assert result.returncode == 0, result.stdout + result.stderr
    assert "validates against Slack's manifest schema" in result.stdout


def test_ci_script_names_nothing_outside_the_repository() -> None:
    ci_steps = (REPO / ".ci" / "run").read_text(encoding="utf-8")
    commands = [line for line in ci_steps.splitlines() if not line.lstrip().startswith("#")]
    assert not [line for line in commands if "../" in line or "shared/" in line]

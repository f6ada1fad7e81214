"""Validate manifest.yml against Slack's manifest schema (a copy in tests/reference/slack)."""

from __future__ import annotations

import json
import sys
from pathlib import Path

import jsonschema
import yaml

root = Path(__file__).resolve().parent.parent
schema_path = root / "tests/reference/slack/manifest.schema.1.0.0.json"
schema = json.loads(schema_path.read_text(encoding="utf-8"))
manifest = yaml.safe_load((root / "manifest.yml").read_text(encoding="utf-8"))
errors = sorted(jsonschema.Draft7Validator(schema).iter_errors(manifest), key=str)
for error in errors:
    print("manifest.yml:", "/".join(map(str, error.path)) or "(top)", "-", error.message)
if errors:
    sys.exit(1)
print("manifest.yml validates against Slack's manifest schema 1.0.0")

"""Validate manifest.yml against Slack's published manifest schema (../shared/slack)."""

from __future__ import annotations

import json
import sys
from pathlib import Path

import jsonschema
import yaml

root = Path(__file__).resolve().parent.parent
schema = json.loads((root.parent / "shared/slack/manifest.schema.1.0.0.json").read_text())
manifest = yaml.safe_load((root / "manifest.yml").read_text())
errors = sorted(jsonschema.Draft7Validator(schema).iter_errors(manifest), key=str)
for error in errors:
    print("manifest.yml:", "/".join(map(str, error.path)) or "(top)", "-", error.message)
if errors:
    sys.exit(1)
print("manifest.yml validates against Slack's manifest schema 1.0.0")

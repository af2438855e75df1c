"""JSON Schema export of the envelope and every (event type, version) in the catalogue."""

from __future__ import annotations

import json
from pathlib import Path

from shared.events.catalogue import CATALOGUE
from shared.events.envelope import Envelope


def export(directory: Path) -> list[Path]:
    directory.mkdir(parents=True, exist_ok=True)
    written = []
    envelope_path = directory / "envelope.schema.json"
    envelope_path.write_text(json.dumps(Envelope.model_json_schema(), indent=2, sort_keys=True) + "\n")
    written.append(envelope_path)
    for (event_type, version), model in sorted(CATALOGUE.items()):
        schema = model.model_json_schema()
        schema["$id"] = f"urn:cxc:event:{event_type}:v{version}"
        schema["title"] = f"{event_type} v{version}"
        path = directory / f"{event_type}.v{version}.schema.json"
        path.write_text(json.dumps(schema, indent=2, sort_keys=True) + "\n")
        written.append(path)
    return written

"""JSON Schema export of the envelope and every (event type, version) in the catalogue.

Each event schema's ``$id`` is the ``dataschema`` URI its events carry (``envelope.schema_uri``), and its file
name is ``envelope.schema_file`` of that URI: a consumer resolves an event's ``dataschema`` to
``DIR/<type>.v<version>.schema.json``.
"""

from __future__ import annotations

import json
from pathlib import Path

from shared.events.catalogue import CATALOGUE
from shared.events.envelope import Envelope, schema_file, schema_uri

ENVELOPE_SCHEMA_ID = "urn:cxc:envelope:cloudevents-1.0"


def export(directory: Path) -> list[Path]:
    directory.mkdir(parents=True, exist_ok=True)
    written = []
    envelope_path = directory / "envelope.schema.json"
    envelope = {"$id": ENVELOPE_SCHEMA_ID, **Envelope.model_json_schema()}
    envelope_path.write_text(json.dumps(envelope, indent=2, sort_keys=True) + "\n")
    written.append(envelope_path)
    for (event_type, version), model in sorted(CATALOGUE.items()):
        schema = model.model_json_schema()
        schema["$id"] = schema_uri(event_type, version)
        schema["title"] = f"{event_type} v{version}"
        path = directory / schema_file(schema["$id"])
        path.write_text(json.dumps(schema, indent=2, sort_keys=True) + "\n")
        written.append(path)
    return written

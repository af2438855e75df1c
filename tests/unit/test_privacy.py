"""Crypto-shredding primitives (shared/privacy.py) and the sealed event versions (catalogue v2)."""

import json
import uuid
from datetime import UTC, datetime

import httpx
import jsonschema
import pytest

from shared import privacy
from shared.events import decode, encode, new_envelope
from shared.events.catalogue import (
    LATEST,
    ExchangeCancelled,
    ParticipantRegistered,
    ParticipantRegisteredV2,
    PersonalProfile,
    Profile,
    join_profile,
    split_profile,
)
from shared.events.schemas import export

PID = str(uuid.uuid4())
PROFILE = Profile(cluster_id="gaia", kind="sme", name="Ana Ruiz Consulting", country="ES", city="Getxo",
                  website="https://ana-ruiz.example", keywords=("photonics",), sectors=("C26.70",))


def sealed_event(key: bytes, pid: str = PID) -> ParticipantRegisteredV2:
    public, personal = split_profile(PROFILE)
    return ParticipantRegisteredV2(
        participant_id=pid, profile=public, registered_at=datetime.now(UTC),
        personal=privacy.seal(key, pid, privacy.PROFILE, personal.model_dump(mode="json")),
    )


def test_sealed_event_on_the_wire_holds_no_personal_field_and_opens_with_its_key():
    key = privacy.new_data_key()
    _, value, _ = encode(new_envelope(sealed_event(key), source="/test"))
    for text in ("Ana Ruiz", "ana-ruiz", "Getxo", "photonics"):
        assert text.lower() not in value.decode().lower()
    payload = decode(value).payload()
    opened = privacy.open_with(key, payload.personal, privacy.PROFILE)
    assert join_profile(payload.profile, PersonalProfile(**opened)) == PROFILE


def test_a_seal_opens_only_with_its_key_for_its_participant_and_purpose():
    key = privacy.new_data_key()
    sealed = sealed_event(key).personal
    with pytest.raises(privacy.SealBroken):
        privacy.open_with(privacy.new_data_key(), sealed, privacy.PROFILE)
    moved = sealed.model_copy(update={"kid": str(uuid.uuid4())})  # pasted into another participant's event
    with pytest.raises(privacy.SealBroken):
        privacy.open_with(key, moved, privacy.PROFILE)
    with pytest.raises(privacy.SealBroken):
        privacy.open_with(key, sealed, privacy.EXCHANGE_REASON)
    tampered = sealed.model_copy(update={"ct": sealed.ct[:-2] + ("A" if sealed.ct[-2] != "A" else "B") + sealed.ct[-1]})
    with pytest.raises(privacy.SealBroken):
        privacy.open_with(key, tampered, privacy.PROFILE)


def test_seals_are_well_formed():
    with pytest.raises(ValueError):
        privacy.Sealed(alg="A256GCM", kid=PID, plain={"name": "x"})
    with pytest.raises(ValueError):
        privacy.Sealed(alg="none", kid=PID, iv="AAAA", ct="AAAA")


def test_v1_events_are_upcast_to_a_legacy_seal_with_the_same_fields():
    v1 = ParticipantRegistered(participant_id=PID, profile=PROFILE, registered_at=datetime.now(UTC))
    payload = decode(encode(new_envelope(v1, source="/test"))[1]).payload()
    assert payload.version == LATEST["participant.registered"] == 2
    assert payload.personal.alg == "none"
    assert join_profile(payload.profile, PersonalProfile(**payload.personal.plain)) == PROFILE

    cancelled = ExchangeCancelled(exchange_id="x-1", participant_id=PID, sending_cluster_id="gaia", reason="ill")
    payload = decode(encode(new_envelope(cancelled, source="/test"))[1]).payload()
    assert payload.version == 2 and payload.reason.plain == {"text": "ill"}
    no_reason = ExchangeCancelled(exchange_id="x-1", participant_id=PID, sending_cluster_id="gaia")
    assert decode(encode(new_envelope(no_reason, source="/test"))[1]).payload().reason is None


def test_schema_export_keeps_v1_and_adds_the_sealed_v2(tmp_path):
    export(tmp_path)
    v1 = json.loads((tmp_path / "participant.registered.v1.schema.json").read_text())
    v2 = json.loads((tmp_path / "participant.registered.v2.schema.json").read_text())
    assert "name" in json.dumps(v1["$defs"]["Profile"]["properties"])
    jsonschema.Draft202012Validator.check_schema(v2)
    jsonschema.validate(sealed_event(privacy.new_data_key()).model_dump(mode="json"), v2)
    assert "name" not in v2["$defs"]["PublicProfile"]["properties"]
    assert (tmp_path / "exchange.cancelled.v2.schema.json").exists()


async def test_remote_key_ring_caches_and_answers_none_once_the_key_is_destroyed():
    key = privacy.new_data_key()
    state = {"erased": False, "calls": 0, "down": False}

    def registration(request: httpx.Request) -> httpx.Response:
        state["calls"] += 1
        assert request.headers["authorization"] == "Bearer service-token"
        if state["down"]:
            return httpx.Response(503)
        if state["erased"]:
            return httpx.Response(410, json={"title": "Gone"})
        return httpx.Response(200, json={"key": privacy._b64(key)})

    ring = privacy.RemoteKeyRing("http://registration", "service-token", transport=httpx.MockTransport(registration))
    assert await ring.key_for(PID) == key
    assert await ring.key_for(PID) == key
    assert state["calls"] == 1  # cached
    state["erased"] = True
    ring.forget(PID)  # what a consumer does on participant.erased
    assert await ring.key_for(PID) is None
    assert await privacy.unseal(ring, sealed_event(key).personal, privacy.PROFILE) is None

    state["down"] = True
    ring.forget(PID)
    with pytest.raises(ConnectionError):  # retried like an unreachable database, never dead-lettered
        await ring.key_for(PID)

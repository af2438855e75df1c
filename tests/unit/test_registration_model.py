import pytest
from pydantic import ValidationError

from services.registration.domain.model import ParticipantIn

VALID = {
    "kind": "sme", "name": "Score Digital", "country": "pl", "sectors": ["J62.01", "C26", "J"],
    "keywords": ["mobility"], "offers": [{"type": "technology", "text": "V2X"}], "requests": [],
    "contact": {"name": "Daniel", "email": "daniel@score.example", "phone": "+48 22 123 45 67"},
    "consent": {"data_processing": True, "marketing": False},
}


def fields_of(exc: ValidationError) -> set[str]:
    return {".".join(str(p) for p in e["loc"]) for e in exc.errors()}


def test_valid_participant_is_normalised():
    p = ParticipantIn.model_validate(VALID)
    assert p.country == "PL"
    assert p.sectors == ["J62.01", "C26", "J"]


@pytest.mark.parametrize(
    "change, field",
    [
        ({"country": "XX"}, "country"),
        ({"country": "DEU"}, "country"),
        ({"sectors": ["62.01"]}, "sectors.0"),
        ({"sectors": ["J6201"]}, "sectors.0"),
        ({"kind": "startup"}, "kind"),
        ({"contact": {"name": "x", "email": "not-an-email"}}, "contact.email"),
        ({"consent": {"data_processing": False}}, "consent.data_processing"),
        ({"offers": [{"type": "gift", "text": "x"}]}, "offers.0.type"),
        ({"surprise": 1}, "surprise"),
    ],
)
def test_invalid_participant_names_the_bad_field(change, field):
    with pytest.raises(ValidationError) as exc:
        ParticipantIn.model_validate({**VALID, **change})
    assert field in fields_of(exc.value)

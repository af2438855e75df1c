from services.registration.domain.model import ParticipantIn
from services.registration.entrypoints.csv_import import read_rows, row_to_item

ROW = {
    "kind": "SME", "name": "Score Digital", "country": "pl", "city": "Warsaw", "employees": "42",
    "website": "https://score.example", "sectors": "J62.01; C26", "keywords": "mobility;;v2x ",
    "offers": "technology: V2X platform; partnership: pilots", "requests": "",
    "contact_name": "Daniel", "contact_email": "daniel@score.example", "contact_phone": "",
    "contact_language": "PL", "data_processing_consent": "yes", "marketing_consent": "", "external_ref": "",
}


def test_a_spreadsheet_row_becomes_a_valid_registration():
    item = row_to_item(ROW)
    p = ParticipantIn.model_validate(item)
    assert (p.kind, p.country, p.employees, p.sectors, p.keywords) == ("sme", "PL", 42, ["J62.01", "C26"], ["mobility", "v2x"])
    assert [(o.type, o.text) for o in p.offers] == [("technology", "V2X platform"), ("partnership", "pilots")]
    assert p.contact.language == "pl" and p.contact.phone is None
    assert p.consent.data_processing and not p.consent.marketing


def test_a_row_without_external_ref_gets_a_stable_one_from_its_content():
    a, b = row_to_item(ROW), row_to_item(dict(ROW))
    assert a["external_ref"] == b["external_ref"] and a["external_ref"].startswith("csv:")
    assert row_to_item({**ROW, "name": "Other"})["external_ref"] != a["external_ref"]
    assert row_to_item({**ROW, "external_ref": "crm-1"})["external_ref"] == "crm-1"


def test_missing_consent_and_unparsable_values_are_left_for_validation_to_name():
    item = row_to_item({**ROW, "data_processing_consent": "", "employees": "many", "offers": "just text"})
    assert item["consent"]["data_processing"] is False
    assert item["employees"] == "many" and item["offers"] == ["just text"]


def test_read_rows_accepts_a_bom_and_reports_line_numbers(tmp_path):
    path = tmp_path / "p.csv"
    path.write_text("\ufeffkind,name,country\nsme,A,DE\nsme,B,FR\n", encoding="utf-8")
    rows = read_rows(path)
    assert [(line, item["name"]) for line, item in rows] == [(2, "A"), (3, "B")]

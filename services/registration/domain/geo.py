"""Where programme cities are, and how far apart: great-circle distance for the lump-sum rule.

The table covers the partner cities and the capitals of the EU, EEA, candidate and neighbouring countries
the programme reaches. A city not in the table falls back to its country's capital, which is what a
coordinator would assume for a travel estimate; a country without a known capital yields no distance.
"""

from __future__ import annotations

import math
import unicodedata

EARTH_RADIUS_KM = 6371.0088

# (normalised city, country) → (latitude, longitude), degrees.
CITIES: dict[tuple[str, str], tuple[float, float]] = {
    # partner cities
    ("dresden", "DE"): (51.0504, 13.7373),
    ("sophia antipolis", "FR"): (43.6163, 7.0552),
    ("valbonne", "FR"): (43.6414, 7.0089),
    ("nice", "FR"): (43.7102, 7.2620),
    ("warsaw", "PL"): (52.2297, 21.0122),
    ("warszawa", "PL"): (52.2297, 21.0122),
    ("vilnius", "LT"): (54.6872, 25.2797),
    ("sofia", "BG"): (42.6977, 23.3219),
    ("san sebastian", "ES"): (43.3183, -1.9812),
    ("donostia", "ES"): (43.3183, -1.9812),
    ("bilbao", "ES"): (43.2630, -2.9350),
    ("leipzig", "DE"): (51.3397, 12.3731),
    ("kaunas", "LT"): (54.8985, 23.9036),
    ("krakow", "PL"): (50.0647, 19.9450),
    ("plovdiv", "BG"): (42.1354, 24.7453),
    ("vitoria gasteiz", "ES"): (42.8467, -2.6716),
    # capitals
    ("vienna", "AT"): (48.2082, 16.3738),
    ("brussels", "BE"): (50.8503, 4.3517),
    ("zagreb", "HR"): (45.8150, 15.9819),
    ("nicosia", "CY"): (35.1856, 33.3823),
    ("prague", "CZ"): (50.0755, 14.4378),
    ("copenhagen", "DK"): (55.6761, 12.5683),
    ("tallinn", "EE"): (59.4370, 24.7536),
    ("helsinki", "FI"): (60.1699, 24.9384),
    ("paris", "FR"): (48.8566, 2.3522),
    ("berlin", "DE"): (52.5200, 13.4050),
    ("athens", "GR"): (37.9838, 23.7275),
    ("budapest", "HU"): (47.4979, 19.0402),
    ("dublin", "IE"): (53.3498, -6.2603),
    ("rome", "IT"): (41.9028, 12.4964),
    ("riga", "LV"): (56.9496, 24.1052),
    ("luxembourg", "LU"): (49.6116, 6.1319),
    ("valletta", "MT"): (35.8989, 14.5146),
    ("amsterdam", "NL"): (52.3676, 4.9041),
    ("lisbon", "PT"): (38.7223, -9.1393),
    ("bucharest", "RO"): (44.4268, 26.1025),
    ("bratislava", "SK"): (48.1486, 17.1077),
    ("ljubljana", "SI"): (46.0569, 14.5058),
    ("madrid", "ES"): (40.4168, -3.7038),
    ("stockholm", "SE"): (59.3293, 18.0686),
    ("oslo", "NO"): (59.9139, 10.7522),
    ("reykjavik", "IS"): (64.1466, -21.9426),
    ("vaduz", "LI"): (47.1410, 9.5209),
    ("bern", "CH"): (46.9480, 7.4474),
    ("london", "GB"): (51.5074, -0.1278),
    ("kyiv", "UA"): (50.4501, 30.5234),
    ("chisinau", "MD"): (47.0105, 28.8638),
    ("belgrade", "RS"): (44.7866, 20.4489),
    ("podgorica", "ME"): (42.4304, 19.2594),
    ("skopje", "MK"): (41.9981, 21.4254),
    ("tirana", "AL"): (41.3275, 19.8187),
    ("sarajevo", "BA"): (43.8563, 18.4131),
    ("ankara", "TR"): (39.9334, 32.8597),
    ("tbilisi", "GE"): (41.7151, 44.8271),
    ("yerevan", "AM"): (40.1792, 44.4991),
    ("tel aviv", "IL"): (32.0853, 34.7818),
    ("tunis", "TN"): (36.8065, 10.1815),
}

CAPITALS: dict[str, str] = {
    "AT": "vienna", "BE": "brussels", "HR": "zagreb", "CY": "nicosia", "CZ": "prague", "DK": "copenhagen",
    "EE": "tallinn", "FI": "helsinki", "FR": "paris", "DE": "berlin", "GR": "athens", "HU": "budapest",
    "IE": "dublin", "IT": "rome", "LV": "riga", "LT": "vilnius", "LU": "luxembourg", "MT": "valletta",
    "NL": "amsterdam", "PL": "warsaw", "PT": "lisbon", "RO": "bucharest", "SK": "bratislava", "SI": "ljubljana",
    "ES": "madrid", "SE": "stockholm", "BG": "sofia", "NO": "oslo", "IS": "reykjavik", "LI": "vaduz",
    "CH": "bern", "GB": "london", "UA": "kyiv", "MD": "chisinau", "RS": "belgrade", "ME": "podgorica",
    "MK": "skopje", "AL": "tirana", "BA": "sarajevo", "TR": "ankara", "GE": "tbilisi", "AM": "yerevan",
    "IL": "tel aviv", "TN": "tunis",
}


def normalise(city: str) -> str:
    folded = unicodedata.normalize("NFKD", city).encode("ascii", "ignore").decode()
    return " ".join(folded.casefold().replace("-", " ").split())


def locate(city: str | None, country: str) -> tuple[float, float] | None:
    """Coordinates of ``city`` in ``country``; the country's capital when the city is unknown."""
    country = country.strip().upper()
    if city and (found := CITIES.get((normalise(city), country))):
        return found
    capital = CAPITALS.get(country)
    return CITIES[(capital, country)] if capital else None


def great_circle_km(a: tuple[float, float], b: tuple[float, float]) -> float:
    """Haversine distance on the mean Earth sphere."""
    lat1, lon1, lat2, lon2 = map(math.radians, (*a, *b))
    h = math.sin((lat2 - lat1) / 2) ** 2 + math.cos(lat1) * math.cos(lat2) * math.sin((lon2 - lon1) / 2) ** 2
    return 2 * EARTH_RADIUS_KM * math.asin(math.sqrt(h))


def distance_km(from_city: str | None, from_country: str, to_city: str | None, to_country: str) -> float | None:
    a, b = locate(from_city, from_country), locate(to_city, to_country)
    return None if a is None or b is None else great_circle_km(a, b)

from pydantic import AliasChoices, Field, model_validator
from pydantic_settings import SettingsConfigDict

from shared.keysigning import PRIVATE_KEY_VAR, PUBLIC_KEY_VAR, KeySigningError, public_key_of, public_key_of_text
from shared.settings import InsecureConfiguration, Secret, ServiceSettings

# Lump-sum caps per host country, EUR per exchange (travel and stay). These are this platform's programme
# figures, not official EXCITE amounts: three tiers by cost of living, following the Erasmus+ country
# groups, sized so that a month-long stay in a group-2 country is covered (2,200 EUR); the full amount
# for stays of 5+ working days more than 200 km away, half otherwise (domain/rules.py). Host countries
# not listed get ``lump_sum_default_cap_eur``. CXC_REGISTRATION_LUMP_SUM_CAPS_EUR='{"DE": 2300, ...}' replaces
# the whole table.
_GROUPS = {
    2400: "DK FI IS IE LI LU NO SE CH GB",
    2200: "AT BE CY DE FR GR IT MT NL PT ES",
    1700: "BG HR CZ EE HU LV LT PL RO RS SK SI MK TR",
}
DEFAULT_LUMP_SUM_CAPS_EUR = {country: eur for eur, countries in _GROUPS.items() for country in countries.split()}


class RegistrationSettings(ServiceSettings):
    model_config = SettingsConfigDict(env_prefix="CXC_REGISTRATION_", extra="ignore", frozen=True)

    service: str = "registration"
    port: int = 8001
    internal_port: int | None = 8011  # contact and data-key lookups for the other services (shared/service.py)
    idempotency_ttl_hours: float = Field(24.0, gt=0)
    lump_sum_caps_eur: dict[str, int] = Field(default_factory=lambda: dict(DEFAULT_LUMP_SUM_CAPS_EUR))
    lump_sum_default_cap_eur: int = Field(1500, ge=0, description="For host countries not in the table")
    # The authority over API keys: signs every apikey.* event (shared/keysigning.py). Registration only.
    key_signing_private_key: Secret = Field(None, validation_alias=AliasChoices(PRIVATE_KEY_VAR))

    @model_validator(mode="after")
    def _key_signing_pair_matches(self):
        if not (self.key_signing_private_key and self.key_signing_public_key):
            return self  # missing: reported with the other secrets
        try:
            public = public_key_of(self.key_signing_private_key.get_secret_value())
        except KeySigningError as exc:
            raise InsecureConfiguration(f"registration refuses to start: {exc}") from None
        if public != public_key_of_text(self.key_signing_public_key.get_secret_value()):
            raise InsecureConfiguration(
                f"registration refuses to start: {PRIVATE_KEY_VAR} and {PUBLIC_KEY_VAR} are not one key pair"
            )
        return self

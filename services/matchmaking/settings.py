from pydantic import Field, field_validator
from pydantic_settings import SettingsConfigDict

from services.matchmaking.domain.bounds import ScheduleLimits
from shared import ical
from shared.settings import ServiceSettings


class MatchmakingSettings(ServiceSettings):
    model_config = SettingsConfigDict(env_prefix="CXC_MATCHMAKING_", extra="ignore", frozen=True)

    service: str = "matchmaking"
    port: int = 8002
    request_ttl_hours: float = Field(72.0, gt=0, description="A pending meeting request expires after this")
    max_pending_requests: int = Field(20, ge=1, description="Pending requests one participant may have open")
    expiry_interval_s: float = Field(30.0, gt=0, description="How often the expiry sweep runs")
    schedule_time_limit_s: float = Field(
        8.0, gt=0, le=300, description="Search budget of one scheduler run; a request may ask for less, never more",
    )
    max_schedule_days: int = Field(366, ge=1, description="Longest activity span (days) the scheduler accepts")
    max_schedule_slots: int = Field(2000, ge=1, description="Most slots (days × slots a day) in one schedule")
    max_schedule_meetings: int = Field(20_000, ge=1, description="Most accepted meetings in one scheduler run")
    max_schedule_cells: int = Field(
        1_000_000, ge=1,
        description="Most slots × (participants + accepted meetings + unavailable periods) in one scheduler run",
    )
    calendar_organizer: str = Field(
        "ClusterXchange <no-reply@clusterxchange.eu>",
        description="ORGANIZER of the agenda's iCalendar feed: the programme mailbox (as CXC_NOTIFICATIONS_MAIL_FROM)",
    )

    @field_validator("calendar_organizer")
    @classmethod
    def _usable_organizer(cls, value: str) -> str:
        ical.organizer(value)  # refused at start-up rather than on every agenda request
        return value

    @property
    def schedule_limits(self) -> ScheduleLimits:
        return ScheduleLimits(
            days=self.max_schedule_days, slots=self.max_schedule_slots, meetings=self.max_schedule_meetings,
            cells=self.max_schedule_cells,
        )

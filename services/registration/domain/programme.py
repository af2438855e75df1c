"""The programme's shape as operators and coordinators change it: clusters and API keys."""

from __future__ import annotations

from typing import Literal

from pydantic import BaseModel, ConfigDict, Field, model_validator

from services.registration.domain.model import Country

ClusterId = Field(pattern=r"^[a-z0-9][a-z0-9-]{1,62}$", examples=["silicon-saxony"])
Role = Literal["partner", "coordinator", "ops"]


class ClusterIn(BaseModel):
    model_config = ConfigDict(extra="forbid", str_strip_whitespace=True)
    id: str = ClusterId
    name: str = Field(min_length=1, max_length=200)
    country: Country
    city: str = Field(min_length=1, max_length=120)


class ClusterPatch(BaseModel):
    """Rename or move a cluster; its id is what events and keys refer to, so it never changes."""

    model_config = ConfigDict(extra="forbid", str_strip_whitespace=True)
    name: str | None = Field(None, min_length=1, max_length=200)
    country: Country | None = None
    city: str | None = Field(None, min_length=1, max_length=120)

    @model_validator(mode="after")
    def _something(self):
        if self.name is None and self.country is None and self.city is None:
            raise ValueError("send at least one of name, country, city")
        return self


class KeyIn(BaseModel):
    model_config = ConfigDict(extra="forbid", str_strip_whitespace=True)
    cluster_id: str = ClusterId
    role: Role
    label: str | None = Field(None, max_length=200)


class ProgrammeIn(BaseModel):
    model_config = ConfigDict(extra="forbid", str_strip_whitespace=True)
    name: str = Field(min_length=1, max_length=200)
    coordinator_cluster: str = ClusterId
    clusters: list[ClusterIn] = Field(default_factory=list, max_length=500)

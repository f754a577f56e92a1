"""Service settings, read from ``ROUTER_*`` environment variables (pydantic-settings)."""

from __future__ import annotations

from pydantic import Field, field_validator
from pydantic_settings import BaseSettings, SettingsConfigDict

SCOPES = ("read", "route", "admin")
"""``read``: look things up; ``route``: route and change orders; ``admin``: network and
bulk stock."""


class Settings(BaseSettings):
    """Everything the service is configured by; injected, never read from globals."""

    model_config = SettingsConfigDict(env_prefix="ROUTER_", frozen=True)

    database_url: str = "sqlite:///router.db"
    """``sqlite:///path/router.db`` (embedded, the default) or ``postgresql://...``."""
    api_keys: str = ""
    """``key1:read,route;key2:admin``. Empty: a random all-scope key is made at start-up
    and printed once, so the service is never open by accident."""
    max_body_bytes: int = Field(default=1_048_576, ge=1)
    busy_timeout_ms: int = Field(default=10_000, ge=0)
    route_attempts: int = Field(default=8, ge=1)
    """Tries of one routing transaction that lost a race for stock (PostgreSQL)."""
    pool_size: int = Field(default=10, ge=1)
    routing_policy: str = "myopic"
    """``myopic`` (each order at least contract cost) or ``inventory_aware`` (plus the
    opportunity cost of the stock it takes, see :mod:`router.service.opportunity`)."""
    opportunity_recompute_s: float = Field(default=3600.0, ge=0)
    opportunity_horizon_days: float = Field(default=7.0, gt=0)
    forecast_cell_deg: float = Field(default=1.0, gt=0)

    @field_validator("routing_policy")
    @classmethod
    def _policy_known(cls, value: str) -> str:
        if value not in ("myopic", "inventory_aware"):
            raise ValueError("routing_policy: use myopic or inventory_aware")
        return value

    @field_validator("api_keys")
    @classmethod
    def _keys_parse(cls, value: str) -> str:
        parse_api_keys(value)
        return value

    def keys(self) -> dict[str, frozenset[str]]:
        return parse_api_keys(self.api_keys)


def parse_api_keys(text: str) -> dict[str, frozenset[str]]:
    """``key1:read,route;key2:admin`` → ``{"key1": {"read", "route"}, "key2": {"admin"}}``.

    ``admin`` implies the other scopes and ``route`` implies ``read``: whoever may change
    a thing may read it.
    """
    keys: dict[str, frozenset[str]] = {}
    for part in filter(None, (p.strip() for p in text.split(";"))):
        key, sep, scopes_text = part.partition(":")
        scopes = {s.strip() for s in scopes_text.split(",") if s.strip()}
        if not sep or not key.strip() or not scopes:
            raise ValueError("api_keys: each entry is KEY:SCOPE[,SCOPE...], entries split by ';'")
        unknown = scopes - set(SCOPES)
        if unknown:
            raise ValueError(f"api_keys: unknown scope {sorted(unknown)[0]!r}; use {SCOPES}")
        if "admin" in scopes:
            scopes |= set(SCOPES)
        if "route" in scopes:
            scopes.add("read")  # whoever routes an order may read it back
        keys[key.strip()] = frozenset(scopes)
    return keys

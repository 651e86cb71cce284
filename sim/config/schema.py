"""The scenario schema: pydantic models of every section, validation and JSON Schema.

A scenario is validated once, at load time, into an immutable :class:`Scenario`. Every error
names the file, the key path, what was expected and what was found::

    scenarios/x.yaml: population.dau: must be > 0, got -5

Durations are written with a unit (``500ms``, ``3s``, ``10m``, ``2h``, ``1d``; a bare number is
seconds) and stored as seconds.
"""

from __future__ import annotations

import math
import os
import re
import types
import typing
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Annotated, Any, Literal, Union

from pydantic import (
    AfterValidator,
    BaseModel,
    BeforeValidator,
    ConfigDict,
    Field,
    ValidationError,
    ValidationInfo,
    field_validator,
    model_serializer,
    model_validator,
)

from sim.config.limits import (
    MAX_EVENTS,
    MAX_PLUGINS,
    MAX_SITES,
    MAX_TOPOLOGY_LINKS,
    MAX_TOPOLOGY_NODES,
    month_problem,
)
from sim.config.messages import dotted, shown_value, validation_message
from sim.config.overrides import apply_overrides
from sim.errors import ScenarioError

__all__ = [
    "REGIONS",
    "ACCESS_TYPES",
    "Scenario",
    "scenario_json_schema",
    "parse_duration",
    "validate_scenario",
    "StrictModel",
    "NetworkEdits",
    "NodeAddition",
    "NodeResize",
    "LinkAddition",
]

REGIONS: tuple[str, ...] = (
    "china", "asia", "europe", "north_america", "south_america", "oceania", "africa",
)
"""The provider's service regions, the unit of geo-DNS mapping."""

ACCESS_TYPES: tuple[AccessType, ...] = (
    "fiber", "cable", "dsl", "fixed", "wifi", "mobile_4g", "mobile_5g",
)

MAX_DURATION_S = 31 * 86400.0
"""The longest duration any key takes (a month): a larger one is a typo."""
MAX_NUMBER = 1e9
"""Upper bound of an otherwise unbounded positive number (weights, rates, milliseconds)."""
_UNITS_S = {"ms": 1e-3, "s": 1.0, "m": 60.0, "min": 60.0, "h": 3600.0, "d": 86400.0}
_DURATION_RE = re.compile(r"^\s*([0-9]*\.?[0-9]+(?:[eE][-+]?[0-9]+)?)\s*(ms|s|min|m|h|d)?\s*$")


def parse_duration(value: Any) -> float:
    """Parse a duration (``"500ms"``, ``"3s"``, ``"10m"``, ``"2h"``, ``"1d"`` or seconds).

    Examples
    --------
    >>> parse_duration("1.5h")
    5400.0
    >>> parse_duration(30)
    30.0
    """
    if isinstance(value, bool):
        raise ValueError(f"expected a duration such as 30s, 10m or 2h, got {shown_value(value)}")
    if isinstance(value, (int, float)):
        seconds = float(value)
    elif isinstance(value, str):
        m = _DURATION_RE.match(value)
        if not m:
            raise ValueError("expected a duration such as 30s, 10m or 2h, got "
                             f"{shown_value(value)}")
        seconds = float(m.group(1)) * _UNITS_S[m.group(2) or "s"]
    else:
        raise ValueError(f"expected a duration such as 30s, 10m or 2h, got {shown_value(value)}")
    if not math.isfinite(seconds) or seconds < 0:
        raise ValueError(f"expected a finite duration >= 0, got {shown_value(value)}")
    if seconds > MAX_DURATION_S:
        raise ValueError(f"expected a duration of at most 31d, got {shown_value(value)}")
    return seconds


Duration = Annotated[float, BeforeValidator(parse_duration,
                                            json_schema_input_type=Union[str, float])]
PositiveDuration = Annotated[Duration, Field(gt=0)]
Fraction = Annotated[float, Field(ge=0.0, le=1.0, allow_inf_nan=False)]
PosFloat = Annotated[float, Field(gt=0.0, le=MAX_NUMBER, allow_inf_nan=False)]
NonNegFloat = Annotated[float, Field(ge=0.0, le=MAX_NUMBER, allow_inf_nan=False)]
Region = Literal["china", "asia", "europe", "north_america", "south_america", "oceania", "africa"]
AccessType = Literal["fiber", "cable", "dsl", "fixed", "wifi", "mobile_4g", "mobile_5g"]


class StrictModel(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True, validate_default=True,
                              use_attribute_docstrings=True)

    @field_validator("*", mode="before")
    @classmethod
    def _no_bool_for_number(cls, v: Any, info: ValidationInfo) -> Any:
        # pydantic takes true/false as 1/0; for a number that is a typo, not a value.
        field = cls.model_fields.get(info.field_name or "")
        if field is not None and _holds_bool(v) and _wants_number(field.annotation):
            raise ValueError(f"expected a number, got {shown_value(v)}")
        return v


def _holds_bool(v: Any) -> bool:
    if isinstance(v, bool):
        return True
    if isinstance(v, list):
        return any(isinstance(x, bool) for x in v)
    if isinstance(v, dict):
        return any(isinstance(x, bool) for x in v.values())
    return False


def _wants_number(tp: Any) -> bool:
    """Whether a field's type takes numbers (or lists or mappings of numbers), not bools."""
    origin = typing.get_origin(tp)
    if origin is Annotated:
        return _wants_number(typing.get_args(tp)[0])
    if origin in (Union, types.UnionType):
        args = typing.get_args(tp)
        return bool not in args and any(_wants_number(a) for a in args)
    if origin in (list, dict):
        return _wants_number(typing.get_args(tp)[-1])
    return tp in (int, float)


# --------------------------------------------------------------------------- population


class Diurnal(StrictModel):
    """Daily shape of the login rate in each site's local time: ``1 + amplitude * cos``."""
    amplitude: Fraction = 0.6
    peak_hour: Annotated[float, Field(ge=0.0, lt=24.0)] = 21.0


class Session(StrictModel):
    """How long a logged-in terminal holds its connection at the node."""
    mean_duration: PositiveDuration = 1200.0
    distribution: Literal["exponential", "lognormal", "fixed"] = "exponential"


class SiteSpec(StrictModel):
    """An explicit site (instead of the shipped cities file)."""
    name: str
    lat: Annotated[float, Field(ge=-90.0, le=90.0)]
    lon: Annotated[float, Field(ge=-180.0, le=180.0)]
    region: Region
    weight: PosFloat = 1.0
    utc_offset_h: Annotated[float, Field(ge=-12.0, le=14.0)] = 0.0
    country: str = ""
    island: bool = False
    """The site is on an island too small for the 1:110m land map (sites in the ocean are
    refused otherwise: see :func:`sim.model.world.check_sites_on_land`)."""


def _default_access_mix() -> dict[AccessType, float]:
    return {"mobile_4g": 0.45, "mobile_5g": 0.2, "wifi": 0.3, "fixed": 0.05}


class Population(StrictModel):
    """Who logs in, where from, how often and over what access network."""
    source: Literal["cities", "sites"] = "cities"
    min_population: Annotated[int, Field(ge=0)] = 1_000_000
    max_sites: Annotated[int, Field(gt=0)] | None = None
    regions: list[Region] | None = None
    sites: Annotated[list[SiteSpec], Field(max_length=MAX_SITES)] | None = None
    dau: Annotated[int, Field(gt=0, le=10_000_000_000)] = 2_000_000
    logins_per_user_per_day: Annotated[float, Field(ge=1.0, le=10_000.0,
                                                    allow_inf_nan=False)] = 20.0
    """Logins a day per daily active user. An IM client logs in again each time the app
    comes to the foreground after the OS suspended it, on each network change and after each
    dropped connection. Smartphone users start about 110 app sessions a day (Strategy
    Analytics AppOptix, 2016; dscout counted 76 phone sessions a day, 2016) and messaging
    takes 26% of their touches (dscout), about 29 messaging sessions a day shared among a
    user's messaging apps: 20 for one app is an assumption on that ground."""
    access_mix: dict[AccessType, Fraction] = Field(default_factory=_default_access_mix)
    diurnal: Diurnal = Diurnal()
    session: Session = Session()
    sample_one_in: Annotated[int, Field(ge=1, le=1_000_000)] = 1
    """Simulate one terminal in k: arrivals and terminal pools divided by k, node workers and
    connection limits too (rounded, at least one worker). Latency percentiles stay those of
    the full population while nodes are not near saturation; counts are of the sample."""

    @field_validator("access_mix")
    @classmethod
    def _mix_sums_to_one(cls, v: dict[str, float]) -> dict[str, float]:
        total = sum(v.values())
        if not v or abs(total - 1.0) > 1e-6:
            raise ValueError(f"shares must add up to 1, got {total:g}")
        return v

    @field_validator("regions")
    @classmethod
    def _regions_not_empty(cls, v: list[str] | None) -> list[str] | None:
        if v is not None and not v:
            raise ValueError("must name at least one region (or be left out for all)")
        return v

    @model_validator(mode="after")
    def _sites_match_source(self) -> Population:
        if self.source == "sites" and not self.sites:
            raise ValueError("source 'sites' needs a non-empty 'sites' list")
        if self.source == "cities" and self.sites is not None:
            raise ValueError("'sites' is only read when source is 'sites'")
        return self


# --------------------------------------------------------------------------- nodes


class NodeCapacity(StrictModel):
    """Capacity of one node kind (defaults) or one node (override)."""
    workers: Annotated[int, Field(gt=0, le=100_000)] | None = None
    connection_limit: Annotated[int, Field(gt=0, le=10 ** 12)] | None = None
    service_ms: PosFloat | None = None
    service_distribution: Literal["exponential", "deterministic"] | None = None
    cache_hit_ratio: Fraction | None = None
    """A fixed share of logins the node answers itself, whatever the terminal did before (a
    modelling shortcut for theory checks; ``ticket_ttl`` is the mechanism). Setting it
    replaces the kind's tickets."""
    ticket_ttl: PositiveDuration | None = None
    """The node keeps a login ticket for each terminal that logged in through it, for this
    long: a terminal whose last login through a ticket-keeping node was here, within the TTL,
    logs in without the home data center. Cache nodes default to 2 h, OpenSSL's default
    session lifetime (``tls1_default_timeout``). Setting it replaces ``cache_hit_ratio``."""
    registration: Literal["async", "sync"] | None = None
    """A ticket login still registers the session at the home data center (a request on its
    workers): ``async`` answers the terminal at once, ``sync`` waits for the registration."""

    @model_validator(mode="after")
    def _one_hit_model(self) -> NodeCapacity:
        if self.cache_hit_ratio is not None and self.ticket_ttl is not None:
            raise ValueError("set either cache_hit_ratio or ticket_ttl, not both")
        return self


class Nodes(StrictModel):
    """Capacities by node kind, then per node id; topology files may also set them per node.

    Precedence: kind defaults here < the node's keys in the topology file < ``overrides``.
    The defaults describe the login capacity one app sees: an access node's 4 login workers
    at 20 ms each handle 200 logins/s; a cache node answers a terminal itself when it holds a
    login ticket for it (``ticket_ttl``); the data center's 16 workers handle 800 logins/s.
    """

    access: NodeCapacity = NodeCapacity(workers=4, connection_limit=400_000, service_ms=20.0,
                                        service_distribution="exponential", cache_hit_ratio=0.0,
                                        registration="async")
    cache: NodeCapacity = NodeCapacity(workers=4, connection_limit=400_000, service_ms=8.0,
                                       service_distribution="exponential", ticket_ttl=7200.0,
                                       registration="async")
    datacenter: NodeCapacity = NodeCapacity(workers=16, connection_limit=None, service_ms=20.0,
                                            service_distribution="exponential",
                                            cache_hit_ratio=None)
    overrides: dict[str, NodeCapacity] = Field(default_factory=dict)


# --------------------------------------------------------------------------- network


def _refuse_old_key(data: Any, key: str, message: str) -> Any:
    """A section's raw mapping, unless it holds a key the format no longer has (``message``
    says what replaced it)."""
    if isinstance(data, Mapping) and key in data:
        raise ValueError(message)
    return data


class Protocol(StrictModel):
    """Transport of the login (the per-login variation of the path: ``paths``)."""
    transport: Literal["tcp_tls13", "tcp_tls12", "quic"] = "tcp_tls13"
    quic_0rtt_share: Fraction = 0.0

    @model_validator(mode="before")
    @classmethod
    def _renamed(cls, data: Any) -> Any:
        return _refuse_old_key(data, "jitter_fraction", (
            "'jitter_fraction' is gone: the path's variation is additive now, per access type "
            "and network (paths.access.<type>.jitter_p50_ms, jitter_p99_ms; see "
            "docs/latency.md)"))

    @property
    def handshake_rtts(self) -> float:
        """Round trips before the login request can be sent (TCP + TLS, or QUIC)."""
        return {"tcp_tls13": 2.0, "tcp_tls12": 3.0, "quic": 1.0}[self.transport]


class AccessPath(StrictModel):
    """What one access type adds to every round trip of a terminal's leg: loss and an
    additive, heavy-tailed (log-normal) extra delay, and the radio's wake-up on a cold start."""
    loss: Annotated[float, Field(ge=0.0, lt=0.5)]
    """Probability that a round trip loses its packet (either way)."""
    jitter_p50_ms: Annotated[float, Field(gt=0.0, le=10_000.0, allow_inf_nan=False)]
    jitter_p99_ms: Annotated[float, Field(gt=0.0, le=100_000.0, allow_inf_nan=False)]
    wakeup_ms: Annotated[float, Field(ge=0.0, le=60_000.0, allow_inf_nan=False)] = 0.0
    """The radio's promotion from idle to connected before the first packet (mobile)."""

    @model_validator(mode="after")
    def _ordered(self) -> AccessPath:
        if self.jitter_p99_ms < self.jitter_p50_ms:
            raise ValueError(f"jitter_p99_ms ({self.jitter_p99_ms:g}) must be at least "
                             f"jitter_p50_ms ({self.jitter_p50_ms:g})")
        return self


class NetworkPath(StrictModel):
    """Loss of one network's legs between servers (node to data center); their extra
    delay is fitted from measurements (``sim.model.latency.variance_params``)."""
    loss: Annotated[float, Field(ge=0.0, lt=0.5)]


ACCESS_PATH_DEFAULTS: dict[str, dict[str, float]] = {
    # Fixed lines: the p99 of the extra delay is FCC MBA 2023's median per-test maximum
    # minus its median average (fibre 12.0 - 9.3, cable 25.1 - 16.3, DSL 34.6 - 26.7 ms);
    # ``fixed`` (worldwide) takes their mean. Medians, losses and the radio figures: see
    # docs/latency.md ("Paths, loss and variance") for the sources and the assumptions.
    "fiber": {"loss": 0.001, "jitter_p50_ms": 0.5, "jitter_p99_ms": 2.7},
    "cable": {"loss": 0.002, "jitter_p50_ms": 1.0, "jitter_p99_ms": 8.8},
    "dsl": {"loss": 0.003, "jitter_p50_ms": 1.0, "jitter_p99_ms": 7.9},
    "fixed": {"loss": 0.002, "jitter_p50_ms": 1.0, "jitter_p99_ms": 6.5},
    "wifi": {"loss": 0.005, "jitter_p50_ms": 2.0, "jitter_p99_ms": 25.0},
    "mobile_4g": {"loss": 0.01, "jitter_p50_ms": 6.0, "jitter_p99_ms": 150.0,
                  "wakeup_ms": 260.0},
    "mobile_5g": {"loss": 0.007, "jitter_p50_ms": 5.0, "jitter_p99_ms": 120.0,
                  "wakeup_ms": 260.0},
}
"""Per access type: loss per round trip, the extra delay's median and p99 (ms), and the
radio's wake-up (ms)."""


CONGESTION_DEFAULTS: dict[str, float] = {
    "china": 10.0, "asia": 8.0, "europe": 3.0, "north_america": 3.0, "south_america": 8.0,
    "oceania": 3.0, "africa": 12.0}
"""Mean extra delay (ms) of a terminal's public leg at its region's evening peak (an
assumption: docs/latency.md, "Paths, loss and variance")."""


def _default_access_paths() -> dict[AccessType, AccessPath]:
    return {k: AccessPath(**v) for k, v in ACCESS_PATH_DEFAULTS.items()}  # type: ignore


class Paths(StrictModel):
    """The two networks and how a login's legs use them (``docs/latency.md``, "Paths, loss
    and variance"): which network a node takes to the home data center, how fast the
    backbone's routing converges after a link changes, the loss and extra delay of each
    access type and network, the radio's wake-up, the public network's evening congestion
    and the carrier across the mainland China border."""
    backend: Literal["auto", "private", "public"] = "auto"
    """How a node reaches the home data center: the faster of the backbone and public
    transit by expected trip time (``auto``), or always one of them."""
    datacenter_edge: bool = False
    """The home data center's own edge takes logins straight from terminals too (over the
    public internet, with no backend leg): it joins its region's candidates."""
    convergence_delay: Duration = 1.0
    """From a backbone link's change (``link_down``, ``link_up``, ``link_degraded``) to the
    routes that use it moving: trips sent through a failed link before then are lost."""
    rto_min: Annotated[Duration, Field(gt=0.0, le=60.0)] = 0.2
    """The smallest retransmission timeout of a data packet (Linux's ``TCP_RTO_MIN``); a
    lost SYN waits the initial 1 s of RFC 6298, doubling."""
    access: dict[AccessType, AccessPath] = Field(default_factory=_default_access_paths)
    jitter: bool = True
    """``false``: no extra delay on any leg (the access types', the networks', congestion),
    for tests against theory."""
    cold_start_share: Fraction = 0.5
    """Share of a mobile terminal's logins (arrivals) that find its radio idle."""
    public: NetworkPath = NetworkPath(loss=0.001)
    private: NetworkPath = NetworkPath(loss=0.0001)
    china_border: Literal["premium", "ordinary"] = "premium"
    """The carrier a node's public transit takes across the mainland China border: premium
    (CN2-like) or the ordinary backbone, with the fitted border costs and extra delay."""
    china_border_loss: Annotated[float, Field(ge=0.0, lt=0.5)] = 0.02
    """Extra loss per round trip across the border on the ordinary carrier."""
    congestion_ms: dict[Region, NonNegFloat] = Field(
        default_factory=lambda: dict(CONGESTION_DEFAULTS))  # type: ignore[arg-type]
    """Mean extra delay of a terminal's public leg at the local evening peak, by the
    terminal's region (scaled by the hour's distance from ``population.diurnal.peak_hour``);
    the regions not named keep their defaults."""

    @model_validator(mode="before")
    @classmethod
    def _access_over_defaults(cls, data: Any) -> Any:
        # An access type's settings lie over its defaults key by key: setting one keeps the
        # others (``paths.access.wifi.loss: 0`` keeps Wi-Fi's extra delay).
        if isinstance(data, Mapping) and isinstance(data.get("access"), Mapping):
            access = {k: {**ACCESS_PATH_DEFAULTS[k], **v}
                      if k in ACCESS_PATH_DEFAULTS and isinstance(v, Mapping) else v
                      for k, v in data["access"].items()}
            data = {**data, "access": access}
        return data

    @field_validator("access")
    @classmethod
    def _all_access_types(cls, v: dict[str, AccessPath]) -> dict[str, AccessPath]:
        return {**_default_access_paths(), **v}  # type: ignore[dict-item]

    @field_validator("congestion_ms")
    @classmethod
    def _all_regions(cls, v: dict[str, float]) -> dict[str, float]:
        return {**CONGESTION_DEFAULTS, **v}


# --------------------------------------------------------------------------- addressing


class RegionLevelSpec(StrictModel):
    """Level 1, geo-DNS: map the terminal to a region through its resolver.

    Terminals use their ISP's resolver in their city, or (``public_resolver_share``) a public
    resolver's nearest anycast point of presence; each resolver's cache is shared by every
    terminal behind it. The provider's authoritative DNS health-checks its nodes every
    ``health_check_interval`` and drops a node after ``health_check_failures`` failed checks
    in a row (and takes it back after as many good ones). A share of resolvers
    (``ttl_stretch_share``) extends the TTL to ``stretched_ttl``."""
    public_resolver_share: Fraction = 0.08
    """Share of terminals on a public resolver (the rest use their ISP's)."""
    dns_ttl: Duration = 300.0
    resolver_rtt_ms: NonNegFloat = 2.0
    ecs: Literal["auto", "on", "off"] = "auto"
    """Whether public resolvers send EDNS Client Subnet (RFC 7871): as each provider does,
    all, or none."""
    ttl_stretch_share: Fraction = 0.0874
    """Share of resolvers that extend TTLs (Bhowmick et al., PAM 2023: 8.74%)."""
    stretched_ttl: Duration = 900.0
    """How long a TTL-stretching resolver keeps an answer (Flavel et al., LANMAN 2014: 2% of
    users still stale after 15 minutes)."""
    health_check_interval: PositiveDuration = 30.0
    """Time between the authoritative side's checks of a node (Route 53's default)."""
    health_check_failures: Annotated[int, Field(ge=1, le=100)] = 3
    """Checks in a row that declare a node down, or up again (Route 53's default)."""

    @field_validator("ecs", mode="before")
    @classmethod
    def _yaml_on_off(cls, v: Any) -> Any:
        # YAML 1.1 reads a bare on / off as a boolean.
        return {True: "on", False: "off"}.get(v, v) if isinstance(v, bool) else v

    @model_validator(mode="before")
    @classmethod
    def _renamed(cls, data: Any) -> Any:
        return _refuse_old_key(data, "far_resolver_share", (
            "'far_resolver_share' is now 'public_resolver_share': public resolvers are "
            "anycast, a terminal reaches the nearest point of presence (see "
            "docs/addressing.md)"))


class NearestLevelSpec(StrictModel):
    """Level 2: order the answer's nodes by the SDK's probe estimates; race the top k.

    ``probe: background`` keeps a probe table refreshed every ``probe_interval`` (free at
    login, up to that old); ``sync`` probes before each login (current, but the login waits
    for the round: every answer, or ``probe_timeout``). Connects to the top k start
    ``race_delay_ms`` apart (RFC 8305); the first to connect wins and the others are
    cancelled. ``probe_noise_ms`` is the mean of the exponential extra delay one round trip
    carries (probes and connects alike). ``probe_beyond`` more nodes outside the answer, the
    nearest, are probed too, so the SDK can correct a wrong mapping."""
    probe_top_k: Annotated[int, Field(ge=1, le=1000)] = 3
    probe_noise_ms: NonNegFloat = 5.0
    probe: Literal["background", "sync"] = "background"
    """A probe table refreshed in the background, or a probe round before each login."""
    probe_interval: PositiveDuration = 300.0
    """How often the background probe table is refreshed."""
    probe_timeout: PositiveDuration = 1.0
    """How long a synchronous probe round waits for a silent node."""
    probe_beyond: Annotated[int, Field(ge=0, le=1000)] = 0
    """Nodes outside the DNS answer (the nearest) the SDK probes too."""
    race_delay_ms: NonNegFloat = 250.0
    """Time between the starts of two raced connects (RFC 8305's Connection Attempt Delay)."""
    rank: Literal["rtt", "end_to_end"] = "rtt"
    """Order the probed nodes by their RTT (``rtt``) or by the expected login time end to
    end (``end_to_end``): the terminal's round trips to the node plus, on the share of its
    logins a node does not answer locally, the trip to the home data center over the path
    the node uses now (as the provider publishes it)."""


class HttpDns(StrictModel):
    """HTTPDNS: the SDK asks the provider's own endpoint (at its nearest access node) over
    HTTP instead of the system resolver: mapped by the terminal's own address, cached by the
    SDK for ``ttl``, and if the endpoint does not answer within ``timeout`` the SDK falls
    back to DNS. ``share``: the terminals whose SDK uses it."""
    share: Fraction = 1.0
    """Share of terminals whose SDK uses HTTPDNS."""
    ttl: Duration = 300.0
    """How long the SDK caches an HTTPDNS answer (Tencent recommends 120-600 s)."""
    timeout: PositiveDuration = 2.0
    """When the SDK gives up on HTTPDNS and falls back to DNS (Tencent's SDK default)."""
    round_trips: Annotated[float, Field(ge=1.0, le=10.0, allow_inf_nan=False)] = 2.0
    """Round trips of an HTTPDNS query (TCP handshake and request)."""


class SpillLevelSpec(StrictModel):
    """Level 3: shed a share of the logins a node would get, growing with how far its last
    load report is over a threshold; the shed logins go to the next candidate. Nodes report
    their load every ``report_interval``, and a report reaches the SDK ``report_delay``
    later (independent of the outputs)."""
    max_utilization: Annotated[float, Field(gt=0.0, le=1.0)] | None = 0.85
    max_queue: Annotated[int, Field(ge=0, le=10 ** 9)] | None = 50
    max_connection_share: Annotated[float, Field(gt=0.0, le=1.0)] | None = 0.95
    report_interval: PositiveDuration = 10.0
    """How often nodes report their load (gRPC ORCA's default out-of-band period)."""
    report_delay: Duration = 1.0
    """How long a load report takes to reach the SDK's scheduler."""


class Backoff(StrictModel):
    """Exponential backoff with jitter before a retry: the ``n``-th waits
    ``min(cap, base * multiplier ** (n - 1))``, spread uniformly by ``+-jitter`` of itself.
    The defaults are gRPC's connection backoff (``doc/connection-backoff.md``:
    INITIAL_BACKOFF 1 s, MULTIPLIER 1.6, JITTER 0.2, MAX_BACKOFF 120 s)."""
    base: Duration = 1.0
    """Wait before the first retry (0: retry at once)."""
    multiplier: Annotated[float, Field(ge=1.0, le=10.0, allow_inf_nan=False)] = 1.6
    """Growth of the wait from one retry to the next."""
    cap: Duration = 120.0
    """Longest wait."""
    jitter: Fraction = 0.2
    """Spread of each wait, as a share of it either way."""


class RetryBudget(StrictModel):
    """Each edge node forwards a retry (an attempt after the login's first) only while its
    budget allows: retries within ``ttl`` may reach ``percent`` of the first attempts within
    it plus a reserve of ``min_per_s`` per second; a retry over budget is refused at once.
    The defaults are Finagle's ``RetryBudget`` (20% of requests on top of 10 retries a
    second, deposits expiring after 10 s)."""
    percent: Annotated[float, Field(ge=0.0, le=10.0, allow_inf_nan=False)] = 0.2
    """Retries allowed per first attempt."""
    min_per_s: NonNegFloat = 10.0
    """Retries allowed per second whatever the traffic (of the full population: a 1-in-k
    sample gets ``1/k``)."""
    ttl: Annotated[float, Field(ge=1.0, le=60.0, allow_inf_nan=False)] = 10.0
    """How long a first attempt counts towards the budget (s)."""


class FailoverLevelSpec(StrictModel):
    """Level 4: a connect to a down node times out and the next candidate is tried; the
    terminal then avoids that node for ``avoid_for``; after every candidate failed, it backs
    off (``backoff``) and starts again, up to ``max_attempts`` connects. An attempt whose
    answer does not come within its ``attempt_timeout`` is abandoned (the node still does the
    work) and retried after a backoff; the login fails when ``deadline`` has passed since it
    started. Defaults of the timeouts: Tencent Mars, the network component of WeChat
    (``mars/stn/config.h``)."""

    connect_timeout: PositiveDuration = 3.0
    max_attempts: Annotated[int, Field(ge=1, le=100)] = 4
    other_regions: bool = True
    avoid_for: Duration = 30.0
    backoff: Backoff = Backoff()
    attempt_timeout: PositiveDuration = 12.0
    """How long the SDK waits for the answer to a login request sent on Wi-Fi or a fixed line
    (Mars ``kBaseFirstPackageWifiTimeout``, 12 s)."""
    attempt_timeout_mobile: PositiveDuration = 15.0
    """The same on a mobile network (Mars ``kBaseFirstPackageGPRSTimeout``, 15 s)."""
    deadline: PositiveDuration = 60.0
    """The login's total deadline from its start, retries included (Mars
    ``DEF_TASK_TIME_OUT``, 60 s)."""
    retry_budget: RetryBudget | None = RetryBudget()
    """Retry budget at each edge node (null: none, every retry goes through)."""

    @model_validator(mode="after")
    def _timeouts_fit(self) -> FailoverLevelSpec:
        if self.connect_timeout > self.deadline:
            raise ValueError(f"connect_timeout ({self.connect_timeout:g} s) is longer than "
                             f"deadline ({self.deadline:g} s)")
        return self


class StickyLevelSpec(StrictModel):
    """Level 5: the SDK tries the last node it logged in through first."""
    enabled: bool = True


class LevelSpec(StrictModel):
    """One entry of ``addressing.levels``: a mapping with exactly one level name."""
    region: RegionLevelSpec | None = None
    nearest: NearestLevelSpec | None = None
    spill: SpillLevelSpec | None = None
    failover: FailoverLevelSpec | None = None
    sticky: StickyLevelSpec | None = None

    @model_validator(mode="before")
    @classmethod
    def _one_level(cls, data: Any) -> Any:
        if isinstance(data, str):
            if data not in cls.model_fields:
                raise ValueError("expected one of region, nearest, spill, failover, sticky, "
                                 f"got {shown_value(data)}")
            data = {data: {}}
        if isinstance(data, Mapping):
            data = {k: ({} if v is None else v) for k, v in data.items()}
            if len(data) != 1:
                raise ValueError("each level is a mapping with exactly one of "
                                 "region, nearest, spill, failover, sticky")
        return data

    @model_serializer(mode="wrap")
    def _only_the_level(self, handler: Any) -> Any:
        return {k: v for k, v in handler(self).items() if v is not None}

    @property
    def name(self) -> str:
        """The level's name (``region``, ``nearest`` ...)."""
        for key in type(self).model_fields:
            if getattr(self, key) is not None:
                return key
        raise AssertionError("validated LevelSpec holds one level")

    @property
    def spec(self) -> BaseModel:
        """The level's own settings."""
        return typing.cast(BaseModel, getattr(self, self.name))


def _default_levels() -> list[LevelSpec]:
    return [LevelSpec(region=RegionLevelSpec()), LevelSpec(nearest=NearestLevelSpec()),
            LevelSpec(sticky=StickyLevelSpec()), LevelSpec(spill=SpillLevelSpec()),
            LevelSpec(failover=FailoverLevelSpec())]


class Addressing(StrictModel):
    """How terminals pick a node: a strategy by name, and for ``multilevel`` its levels,
    applied in the order listed. ``region`` and ``failover`` settings also apply to the
    baselines (every terminal resolves DNS and fails over)."""

    strategy: str = "multilevel"
    levels: list[LevelSpec] = Field(default_factory=_default_levels)
    httpdns: HttpDns | None = None
    options: dict[str, Any] = Field(default_factory=dict)

    @field_validator("levels")
    @classmethod
    def _levels_ok(cls, v: list[LevelSpec]) -> list[LevelSpec]:
        names = [lv.name for lv in v]
        dup = sorted({n for n in names if names.count(n) > 1})
        if dup:
            raise ValueError(f"level {shown_value(dup[0])} appears more than once")
        if "region" in names and names[0] != "region":
            raise ValueError("the region level must come first")
        return v

    def level(self, name: str) -> BaseModel | None:
        """Settings of the named level, or None when it is not configured."""
        for lv in self.levels:
            if lv.name == name:
                return lv.spec
        return None

    @property
    def region(self) -> RegionLevelSpec:
        """Geo-DNS settings: the configured level, or defaults."""
        spec = self.level("region")
        return typing.cast(RegionLevelSpec, spec) if spec is not None else RegionLevelSpec()

    @property
    def failover(self) -> FailoverLevelSpec:
        """Failover settings: the configured level, or defaults (every SDK fails over)."""
        spec = self.level("failover")
        return typing.cast(FailoverLevelSpec, spec) if spec is not None else FailoverLevelSpec()


# --------------------------------------------------------------------------- events


class FlashCrowd(StrictModel):
    """Arrival rate multiplied for a region or a site for a while."""
    region: Region | None = None
    site: str | None = None
    multiplier: Annotated[float, Field(gt=0.0, le=1000.0, allow_inf_nan=False)] = 5.0

    @model_validator(mode="after")
    def _one_target(self) -> FlashCrowd:
        if (self.region is None) == (self.site is None):
            raise ValueError("name exactly one of region or site")
        return self


class LinkDegraded(StrictModel):
    """Extra latency and loss on one backbone link (``a``, ``b``: node ids) or on every
    public path between two regions (``regions: [africa, europe]``; the same region twice
    means paths inside it)."""

    a: str | None = None
    b: str | None = None
    regions: Annotated[list[Region], Field(min_length=2, max_length=2)] | None = None
    extra_ms: NonNegFloat = 0.0
    loss: Annotated[float, Field(ge=0.0, lt=1.0)] = 0.0

    @model_validator(mode="after")
    def _one_target(self) -> LinkDegraded:
        link = self.a is not None or self.b is not None
        if link == (self.regions is not None):
            raise ValueError("name either a link (a and b) or two regions")
        if link and (self.a is None or self.b is None):
            raise ValueError("a link needs both ends, a and b")
        if self.extra_ms == 0 and self.loss == 0:
            raise ValueError("set extra_ms or loss (or both)")
        return self


class Link(StrictModel):
    """A backbone link by its two ends (node ids, either order)."""
    a: str
    b: str


class Slowdown(StrictModel):
    """A node works ``factor`` times slower (a slow dependency, a garbage-collection storm, a
    bad deploy): a login whose service starts while it lasts takes ``factor`` times its
    service time."""
    node: str
    factor: Annotated[float, Field(gt=0.0, le=1000.0, allow_inf_nan=False)] = 4.0


EVENT_KINDS = ("node_down", "node_up", "region_outage", "datacenter_down", "link_degraded",
               "link_down", "link_up", "flash_crowd", "slowdown")


class Event(StrictModel):
    """A scheduled event: exactly one of ``node_down``, ``node_up``, ``region_outage``,
    ``datacenter_down``, ``link_degraded``, ``link_down``, ``link_up``, ``flash_crowd``,
    ``slowdown``; ``for`` makes it last (a down node or link comes back up, a crowd ends).
    ``mode`` applies to ``datacenter_down``: ``fail`` (logins that need the data center
    fail) or ``queue`` (they wait at the node until it is back or the SDK gives them up)."""

    at: Duration
    for_: PositiveDuration | None = Field(None, alias="for")
    node_down: str | None = None
    node_up: str | None = None
    region_outage: Region | None = None
    datacenter_down: str | None = None
    link_degraded: LinkDegraded | None = None
    link_down: Link | None = None
    link_up: Link | None = None
    flash_crowd: FlashCrowd | None = None
    slowdown: Slowdown | None = None
    mode: Literal["fail", "queue"] | None = None

    model_config = ConfigDict(extra="forbid", frozen=True, populate_by_name=True)

    @model_validator(mode="after")
    def _one_kind(self) -> Event:
        kinds = [k for k in EVENT_KINDS if getattr(self, k) is not None]
        if len(kinds) != 1:
            raise ValueError(f"each event names exactly one of {', '.join(EVENT_KINDS)}")
        if kinds[0] in ("node_up", "link_up") and self.for_ is not None:
            raise ValueError(f"{kinds[0]} takes no 'for'")
        if kinds[0] in ("flash_crowd", "link_degraded", "slowdown") and self.for_ is None:
            raise ValueError(f"{kinds[0]} needs 'for'")
        if self.mode is not None and kinds[0] != "datacenter_down":
            raise ValueError("'mode' only applies to datacenter_down")
        return self

    @model_serializer(mode="wrap")
    def _only_set_keys(self, handler: Any) -> Any:
        return {k: v for k, v in handler(self).items() if v is not None}

    @property
    def kind(self) -> str:
        """Which kind of event this is."""
        for k in EVENT_KINDS:
            if getattr(self, k) is not None:
                return k
        raise AssertionError("validated Event has a kind")

    @property
    def end(self) -> float | None:
        """When a lasting event ends (None for an instant one)."""
        return None if self.for_ is None else self.at + self.for_


class Reconnect(StrictModel):
    """How terminals whose session dropped (their node failed) reconnect. A terminal notices
    the drop at once when the node resets its connection (``reset_share`` of drops), else at
    the first heartbeat left unanswered: after the time to its next heartbeat (uniform over
    ``heartbeat_interval``), ``heartbeat_misses - 1`` more intervals and the answer's timeout
    (``failover.attempt_timeout``). It then waits a uniform ``[0, first_delay]`` and logs in
    again through addressing, with the login's retries and backoff. Heartbeat default: Mars'
    ``MinHeartInterval`` (4.5 min, WeChat's foreground heartbeat); one missed answer drops
    the long link."""

    enabled: bool = True
    first_delay: Duration = 1.0
    """Spread of the first reconnect after the drop is noticed (gRPC's INITIAL_BACKOFF)."""
    heartbeat_interval: PositiveDuration = 270.0
    """Time between a connected terminal's heartbeats."""
    heartbeat_misses: Annotated[int, Field(ge=1, le=100)] = 1
    """Unanswered heartbeats before the terminal gives the connection up."""
    reset_share: Fraction = 0.0
    """Share of drops the terminal learns at once from a connection reset (a crashed process
    on a live host resets; a host or network that fails, as the events model, sends
    nothing)."""


# --------------------------------------------------------------------------- network edits


class NodeResize(StrictModel):
    """Capacity keys of one node, as a topology file sets them (``network.resize``)."""
    workers: Annotated[int, Field(gt=0, le=100_000)] | None = None
    connection_limit: Annotated[int, Field(gt=0, le=10 ** 12)] | None = None
    service_ms: Annotated[float, Field(gt=0.0, le=1e9, allow_inf_nan=False)] | None = None
    cache_hit_ratio: Fraction | None = None

    def capacity(self) -> dict[str, int | float]:
        """The capacity keys this sets (the others are left as they are)."""
        return {k: v for k in ("workers", "connection_limit", "service_ms", "cache_hit_ratio")
                if (v := getattr(self, k)) is not None}


class NodeAddition(NodeResize):
    """A node added to the topology (``network.add``): at a shipped city (``city``) or at
    ``lat``/``lon`` (then ``id`` is required), linked to the nearest hubs unless ``links``
    names its neighbours (see ``topologies/README.md``, "Editing the network in a
    scenario")."""
    city: Annotated[str, Field(min_length=1, max_length=200)] | None = None
    """A city of ``sim/data/cities.csv`` (case and accents ignored; ``"Name, CC"`` picks
    the country; otherwise the most populous city of that name)."""
    kind: Literal["access", "cache", "datacenter", "hub"]
    id: Annotated[str, Field(min_length=1, max_length=200)] | None = None
    """Default: ``<kind>-<city>`` (``access-nairobi``; ``dc-`` for a data center)."""
    lat: Annotated[float, Field(ge=-90.0, le=90.0, allow_inf_nan=False)] | None = None
    lon: Annotated[float, Field(ge=-180.0, le=180.0, allow_inf_nan=False)] | None = None
    name: Annotated[str, Field(max_length=200)] | None = None
    """The city label of a node placed by ``lat``/``lon``."""
    region: Region | None = None
    """Default: the city's region (by ``lat``/``lon``: the nearest shipped city's)."""
    country: Annotated[str, Field(max_length=10)] | None = None
    links: Annotated[list[Annotated[str, Field(min_length=1)]],
                     Field(min_length=1, max_length=1000)] | None = None
    """Node ids to link to over the private backbone (default: the nearest hubs)."""
    links_to_nearest: Annotated[int, Field(ge=1, le=100)] | None = None
    """How many of the nearest hubs (great circle) to link to when ``links`` is not given
    (default 2)."""

    @model_validator(mode="after")
    def _placed_once(self) -> NodeAddition:
        if self.city is not None and (self.lat is not None or self.lon is not None):
            raise ValueError("give either city or lat and lon, not both")
        if self.city is None:
            if self.lat is None or self.lon is None:
                raise ValueError("give a city, or lat and lon")
            if self.id is None:
                raise ValueError("a node placed by lat and lon needs an id")
        elif self.name is not None:
            raise ValueError("'name' labels a node placed by lat and lon; with city, the city "
                             "is its label")
        if self.links is not None and self.links_to_nearest is not None:
            raise ValueError("give either links or links_to_nearest, not both")
        return self


class LinkAddition(StrictModel):
    """A link added to the topology, as a topology file's ``links`` entry."""
    a: Annotated[str, Field(min_length=1)]
    b: Annotated[str, Field(min_length=1)]
    network: Literal["private", "public"] = "private"
    rtt_ms: Annotated[float, Field(gt=0.0, le=1e6, allow_inf_nan=False)] | None = None


class NetworkEdits(StrictModel):
    """Changes to the topology file's network, applied before the run (a variant is a few
    lines with ``extends:``): nodes removed (with their links), links removed, nodes added,
    links added, nodes resized, in that order (:func:`sim.model.network_edits.
    apply_network_edits`). ``nodes.overrides`` still has the last word on a node's
    capacity."""
    add: Annotated[list[NodeAddition], Field(max_length=MAX_TOPOLOGY_NODES)] = \
        Field(default_factory=list)
    remove: Annotated[list[Annotated[str, Field(min_length=1)]],
                      Field(max_length=MAX_TOPOLOGY_NODES)] = Field(default_factory=list)
    resize: Annotated[dict[str, NodeResize], Field(max_length=MAX_TOPOLOGY_NODES)] = \
        Field(default_factory=dict)
    add_links: Annotated[list[LinkAddition], Field(max_length=MAX_TOPOLOGY_LINKS)] = \
        Field(default_factory=list)
    remove_links: Annotated[list[Link], Field(max_length=MAX_TOPOLOGY_LINKS)] = \
        Field(default_factory=list)

    @property
    def empty(self) -> bool:
        """Nothing to change."""
        return not (self.add or self.remove or self.resize or self.add_links
                    or self.remove_links)


# --------------------------------------------------------------------------- outputs


class Outputs(StrictModel):
    """What a run writes."""
    per_login: bool = True
    format: Literal["csv", "parquet"] = "csv"
    sample_every: PositiveDuration = 10.0
    figures: bool = True
    stream: bool = False
    """Write the per-login records to Parquet in batches as the run goes instead of holding
    them in memory (needs ``per_login`` and pyarrow): for runs of tens of millions of
    logins."""

    @model_validator(mode="after")
    def _stream_needs_records(self) -> Outputs:
        if self.stream and not self.per_login:
            raise ValueError("stream: true writes the per-login records as the run goes; "
                             "it needs per_login: true")
        return self


# --------------------------------------------------------------------------- billing


class Rates(StrictModel):
    """Daily creation and removal of something counted net (groups, rooms, accounts)."""
    initial: Annotated[int, Field(ge=0, le=10 ** 10)] = 0
    created_per_day: Annotated[float, Field(ge=0.0, le=1e8, allow_inf_nan=False)] = 0.0
    removed_per_day: Annotated[float, Field(ge=0.0, le=1e8, allow_inf_nan=False)] = 0.0


class CountedRates(Rates):
    """Rates of things the usage model counts one operation at a time (AVChatRooms, trial
    accounts), so bounded lower than groups to keep a month's model to seconds."""

    initial: Annotated[int, Field(ge=0, le=100_000)] = 0
    created_per_day: Annotated[float, Field(ge=0.0, le=10_000.0, allow_inf_nan=False)] = 0.0
    removed_per_day: Annotated[float, Field(ge=0.0, le=10_000.0, allow_inf_nan=False)] = 0.0


class Billing(StrictModel):
    """Usage the provider bills and limits, and how to price it (see :mod:`sim.billing.rules`).

    DAU for each day of ``month`` comes from ``population.dau`` (distinct users a day, as the
    workload draws them), grown by ``dau_growth_per_day`` and shaped by ``weekly_pattern``
    (Monday first, mean 1); groups, AVChatRooms and trial accounts follow their ``Rates``.
    """

    month: str | None = None
    price_list: str = "international-usd"
    edition: Literal["trial", "professional", "flagship"] = "professional"
    dau_growth_per_day: Annotated[float, Field(gt=-1.0, le=1.0, allow_inf_nan=False)] = 0.0
    weekly_pattern: Annotated[list[PosFloat], Field(min_length=7, max_length=7)] | None = None
    groups: Rates = Rates()
    avchatrooms: CountedRates = CountedRates()
    trial_accounts: CountedRates = CountedRates()

    @field_validator("month")
    @classmethod
    def _month_form(cls, v: str | None) -> str | None:
        if v is not None and not re.fullmatch(r"\d{4}-(0[1-9]|1[0-2])", v):
            raise ValueError(f"expected a month as YYYY-MM, got {shown_value(v)}")
        problem = None if v is None else month_problem(int(v[:4]), int(v[5:]))
        if problem is not None:
            raise ValueError(f"{problem}, got {shown_value(v)}")
        return v


# --------------------------------------------------------------------------- scenario

_PLUGIN_RE = re.compile(r"[A-Za-z_]\w*(\.[A-Za-z_]\w*)*:[A-Za-z_]\w*")


def _plugin_ref(entry: str) -> str:
    if not _PLUGIN_RE.fullmatch(entry):
        raise ValueError(f"expected 'module:Class' (a Python module and a Strategy class in "
                         f"it), got {shown_value(entry)}")
    return entry


PluginRef = Annotated[str, AfterValidator(_plugin_ref)]


class Scenario(StrictModel):
    """A validated, immutable scenario. Make variants with :meth:`with_overrides`."""
    name: str
    description: str = ""
    extends: str | None = None
    seed: Annotated[int, Field(ge=0, le=2 ** 63 - 1)] = 42
    replications: Annotated[int, Field(ge=1, le=10_000)] = 1
    duration: PositiveDuration = 3600.0
    warmup: Duration = 0.0
    start_utc_hour: Annotated[float, Field(ge=0.0, lt=24.0)] = 12.0
    topology: str
    home_datacenter: str
    population: Population = Population()
    nodes: Nodes = Nodes()
    protocol: Protocol = Protocol()
    paths: Paths = Paths()
    addressing: Addressing = Addressing()
    events: list[Event] = Field(default_factory=list, max_length=MAX_EVENTS)
    reconnect: Reconnect = Reconnect()
    outputs: Outputs = Outputs()
    billing: Billing | None = None
    network: NetworkEdits | None = None
    """Changes to the topology's nodes and links (``topologies/README.md``)."""
    plugins: list[PluginRef] = Field(default_factory=list, max_length=MAX_PLUGINS)
    """Strategy classes to load, ``module:Class`` (see :mod:`sim.addressing.plugins`)."""

    @field_validator("warmup")
    @classmethod
    def _warmup_before_end(cls, v: float, info: ValidationInfo) -> float:
        duration = info.data.get("duration")
        if duration is not None and v >= duration:
            raise ValueError(f"must be shorter than duration ({duration:g} s), got {v:g} s")
        return v

    @field_validator("events")
    @classmethod
    def _events_inside_the_run(cls, v: list[Event], info: ValidationInfo) -> list[Event]:
        duration = info.data.get("duration")
        if duration is None:  # (duration itself was invalid: reported on its own)
            return v
        for i, ev in enumerate(v):
            if ev.at >= duration:
                raise ValueError(f"events[{i}] ({ev.kind} at {ev.at:g} s) starts after the run "
                                 f"ends (duration {duration:g} s): move it inside the run or "
                                 "lengthen the duration")
        return v

    def resolved(self) -> dict[str, Any]:
        """The scenario with every default filled in, as plain JSON-ready data.

        File paths (``topology``, a ``billing.price_list`` file) are absolute, so that the
        resolved scenario (``scenario_resolved`` in a result) runs again from any folder.
        """
        data = self.model_dump(mode="json", by_alias=True)
        data["topology"] = _absolute(data["topology"])
        if data.get("network") is None:
            del data["network"]  # no edits: resolved as before the section existed
        billing = data.get("billing")
        if isinstance(billing, dict) and isinstance(billing.get("price_list"), str):
            name = billing["price_list"]
            if "/" in name or os.sep in name or name.endswith((".yaml", ".yml")):
                billing["price_list"] = _absolute(name)
        return data

    def with_overrides(self, overrides: Mapping[str, Any]) -> Scenario:
        """A new scenario with ``{"key.path": value}`` overrides applied and validated."""
        raw = self.resolved()
        apply_overrides(raw, overrides, source="override")
        return validate_scenario(raw, source=f"{self.name} (resolved)",
                                 override_paths=list(overrides),
                                 override_source="override")



def _absolute(path: str) -> str:
    """A file path made absolute (against the working directory), never raising."""
    try:
        return str(Path(path).resolve())
    except (OSError, RuntimeError, ValueError):  # a symbolic link loop, a NUL character
        return os.path.abspath(path) if "\0" not in path else path


def validate_scenario(raw: dict[str, Any], *, source: str, override_paths: Sequence[str] = (),
              override_source: str = "--set") -> Scenario:
    """Validate a raw scenario mapping into a :class:`Scenario`.

    Parameters
    ----------
    raw : dict
        The merged mapping (``extends:`` resolved, overrides applied).
    source : str
        The file named in an error.
    override_paths : sequence of str
        Key paths set by overrides: an error at one of them names ``override_source``.
    override_source : str
        What set them (``--set``).

    Raises
    ------
    ScenarioError
        The first problem, with its file and key path.
    """
    try:
        return Scenario.model_validate(raw)
    except ValidationError as e:
        err = e.errors(include_url=False)[0]
        path = dotted(err["loc"])
        if any(path == k or path.startswith((k + ".", k + "[")) for k in override_paths):
            source = override_source
        raise ScenarioError(validation_message(err, Scenario), file=source,
                            path=path or None) from None



def scenario_json_schema() -> dict[str, Any]:
    """JSON Schema of the scenario format (for YAML editors: yaml-language-server)."""
    schema = Scenario.model_json_schema(by_alias=True)
    # A file that extends another may leave the required keys to its parent.
    required = schema.pop("required", [])
    schema["if"] = {"not": {"required": ["extends"]}}
    schema["then"] = {"required": required}
    schema["$schema"] = "https://json-schema.org/draft/2020-12/schema"
    schema["title"] = "access-sim scenario"
    return schema

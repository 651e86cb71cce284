"""One login as the engine carries it from arrival to its outcome."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

__all__ = ["Login"]


@dataclass(slots=True, init=False, eq=False)
class Login:
    """A login in flight: the terminal, its draws, its plan and what it has cost so far.

    The engine fills the fields as the login goes (no ``__init__``: a login is made once
    per arrival on the hot path and its fields are set where they become known). Identity,
    not value, tells two logins apart.
    """

    id: int
    """Login number, in the order logins start."""
    t0: float
    """When it started (s)."""
    site: int
    user: int
    access: int
    """Access type code (``ReplicationOutput.access_names``)."""
    last_mile_ms: float
    jitter: float
    """Extra delay of each round trip of its leg to the node, ms (access, public path,
    congestion: :class:`sim.model.paths.LegModel`)."""
    extra_s: float
    """What its first connect loses to the radio's wake-up and lost packets, s (0 after)."""
    z_back: float
    """Its normal draw for the extra delay of its trip to the home data center."""
    u_back: float
    """Its uniform draw for the loss of that trip (and, shifted, of its later connects)."""
    path: int
    """How its answer came: 0 from the node itself, 1 over the backbone, 2 over public
    transit, 3 from the home data center's own edge (connected straight to it)."""
    moved: int
    """1 when the end-to-end ranking chose another node than the nearest by RTT."""
    session_s: float
    """How long the session stays open after the login."""
    svc_node: float
    """Service draw at the node (exponential, mean 1)."""
    svc_dc: float
    """Service draw at the data center (exponential, mean 1)."""
    cache_u: float
    """Uniform draw against the node's cache hit ratio."""
    candidates: Any
    """The strategy's ordered candidate nodes."""
    pos: int
    """Next candidate to try."""
    attempts: int
    tag: str
    """The level that decided the plan."""
    node: int
    """The node it is connected to (-1: none)."""
    gen: int
    """The node's generation when connected (a node that went down has a newer one)."""
    rtt_ms: float
    """Terminal-node RTT of the attempt, last mile and jitter included."""
    dns_ms: float
    probe_ms: float
    noise: list[float]
    noise_at: int
    """``noise[noise_at:noise_at + race_k]`` are the exponential draws (mean 1) of its
    connects' extra delay, one per raced connect, drawn before it starts (so no other
    login's path changes them)."""
    """The SDK's synchronous probe round before its first connect (0: none)."""
    t_node: float
    queue_ms: float
    service_ms: float
    backend_ms: float
    round: int
    """Failover rounds over the whole candidate list."""
    trigger: int
    """0 arrival, 1 reconnect."""
    dc_half_s: float
    """One way of the backbone trip to the home data center."""
    t_held: float
    """When it started to wait for the home data center (queue mode)."""
    t_finish: float
    """When its service at the current node ends."""
    leg: int
    """0 at its edge node; 1 beyond it (the backbone, the data center, the way back), where
    its edge node going down still loses it."""
    seq: int
    """Bumped when what was scheduled for it becomes void (its node went down, its attempt
    was abandoned)."""
    deadline: float
    """When the SDK abandons the current attempt (its answer timeout, or the login's total
    deadline if sooner), absolute s."""
    give_up: float
    """When the login fails if it has not succeeded: its start plus the SDK's deadline."""
    backoffs: int
    """Backoff waits so far (rounds over the candidates, retries after a timeout or a
    refusal): the next wait grows with it."""

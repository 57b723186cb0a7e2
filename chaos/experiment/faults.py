"""Faults (Jepsen's nemesis): timed operations on a link or a component of the stack.

A fault is written flat, `{name: slow-edge, at: 20s, for: 60s, link: listener->edge,
latency: 200ms, jitter: 50ms}`, and its kind is the one kind key it sets. Link faults map onto
Toxiproxy toxics (or proxy disable for `down`); `flood` sends competing traffic through a link;
`feedback` makes a speaker hear itself; `kill`, `pause` and `restart` act on a component's
processes. Every fault except `restart` lasts `for` and then ends: faults always end.

Some faults are made in the kernel, by a stack backend, not by the proxy: `layer: kernel` on a
`loss` (nftables, UDP or TCP), `capacity` (one egress budget shared by every connection the
link's targets send, `tbf`), and `partition` (a component cut off the network). Which backend
can make which is the stack's business (`chaos.stack.capabilities`); ``capability`` names it.
"""

from __future__ import annotations

from fractions import Fraction
from typing import Annotated, ClassVar, Literal, Self

from pydantic import BeforeValidator, Field, PlainSerializer, PlainValidator, model_validator

from chaos.experiment.base import Model, Name
from chaos.experiment.tagged import by_key, field_error, tag
from chaos.experiment.units import (
    DataRate,
    Duration,
    PositiveDuration,
    Ratio,
    Share,
    Size,
    UnitError,
    parse_data_rate,
)

Direction = Literal["upstream", "downstream", "both"]
Layer = Literal["proxy", "kernel"]
"""Where a loss is made: in the fault proxy (every backend) or in the kernel (netns)."""
"""Upstream is client → server (a speaker's audio into ingest), downstream server → client."""

Rate = Annotated[DataRate, PlainValidator(parse_data_rate), PlainSerializer(str, when_used="json")]


def _flood_level(value: object) -> Ratio | DataRate:
    if (isinstance(value, str) and value.strip().endswith("%")) or isinstance(value, Ratio):
        ratio = Ratio.coerce(value)
        if not 0 < ratio.value <= 1:
            raise UnitError(f"a flood takes more than 0% and at most 100% of the link; got {ratio}")
        return ratio
    rate = parse_data_rate(value)
    if rate.bytes_per_second == 0:
        raise UnitError("a flood of 0 sends nothing; give a share (90%) or a rate (50Mbps)")
    return rate


FloodLevel = Annotated[
    Ratio | DataRate, PlainValidator(_flood_level), PlainSerializer(str, when_used="json")
]
"""How much competing traffic: a share of the link's capacity (`90%`) or a rate (`50Mbps`)."""


class _Fault(Model):
    kind: ClassVar[str]
    name: Name
    at: Duration

    @property
    def end(self) -> Duration:
        return self.at

    @property
    def capability(self) -> str:
        """The fault kind as a stack backend's capability list names it."""
        return self.kind


class _Lasting(_Fault):
    for_: PositiveDuration = Field(alias="for")

    @property
    def end(self) -> Duration:
        return self.at + self.for_


class _LinkFault(_Lasting):
    """A fault on a link of the stack spec, applied to every proxy of that link."""

    link: str
    direction: Direction = "both"


class _Toxic(_LinkFault):
    toxicity: Share = Ratio.parse("100%")
    """Share of connections the toxic applies to (Toxiproxy's `toxicity`)."""


class LatencyFault(_Toxic):
    kind: ClassVar[str] = "latency"
    latency: Duration
    jitter: Duration = Duration(0)


class LossFault(_Toxic):
    """Datagrams dropped at random: meaningful on UDP links only (TCP retransmits)."""

    kind: ClassVar[str] = "loss"
    loss: Share
    layer: Layer = "proxy"

    @property
    def capability(self) -> str:
        return "kernel-loss" if self.layer == "kernel" else self.kind

    @model_validator(mode="after")
    def _kernel_whole(self) -> Self:
        if self.layer == "kernel" and self.toxicity.fraction != 1:
            raise field_error(
                "toxicity", "kernel loss drops packets of every connection; remove `toxicity`"
            )
        return self


class CapacityFault(_LinkFault):
    """One egress budget shared by every connection the link's targets send (`tbf` in their
    namespace): a saturated data line, which Toxiproxy's per-connection bandwidth is not."""

    kind: ClassVar[str] = "capacity"
    capacity: Rate
    direction: Literal["downstream"] = "downstream"

    @property
    def capability(self) -> str:
        return "shared-capacity"

    @model_validator(mode="after")
    def _moving(self) -> Self:
        if self.capacity.bytes_per_second < 1:
            raise field_error("capacity", "must be at least 8bps; for an outage use `partition`")
        return self


class BandwidthFault(_Toxic):
    kind: ClassVar[str] = "bandwidth"
    bandwidth: Rate

    @model_validator(mode="after")
    def _moving(self) -> Self:
        if self.bandwidth.bytes_per_second < 1:
            raise field_error("bandwidth", "must be at least 8bps; for an outage use `down: true`")
        return self


class Slicing(Model):
    average_size: Size
    size_variation: Size = Size(0)
    delay: Duration = Duration(0)

    @model_validator(mode="after")
    def _sizes(self) -> Self:
        if self.average_size.bytes < 1:
            raise field_error("average_size", "must be at least 1B")
        if self.size_variation >= self.average_size:
            raise field_error(
                "size_variation", f"must be smaller than average_size ({self.average_size})"
            )
        return self


class SlicerFault(_Toxic):
    kind: ClassVar[str] = "slicer"
    slicer: Slicing


class TimeoutFault(_Toxic):
    """Data stops; connections close after `timeout` of silence (0s: they hang)."""

    kind: ClassVar[str] = "timeout"
    timeout: Duration


class ResetPeerFault(_Toxic):
    kind: ClassVar[str] = "reset_peer"
    reset_peer: Duration


class LimitDataFault(_Toxic):
    kind: ClassVar[str] = "limit_data"
    limit_data: Size


class SlowCloseFault(_Toxic):
    kind: ClassVar[str] = "slow_close"
    slow_close: Duration


class DownFault(_LinkFault):
    """The link's proxy is disabled: new connections are refused, open ones closed."""

    kind: ClassVar[str] = "down"
    down: Literal[True]


class FloodFault(_LinkFault):
    """Competing traffic on a link: pushed into it (`upstream`), pulled through it from the
    fault proxy (`downstream`), or both, by `connections` flows that share the `flood` rate
    (many flows take many fair shares of a shared capacity, as a botnet does)."""

    kind: ClassVar[str] = "flood"
    flood: FloodLevel
    connections: int = Field(default=20, ge=1, le=5000)


def _speaker_name(value: object) -> object:
    """`speaker: 1` is the workload's `speaker-1` (what `speakers: 2` names its speakers)."""
    if isinstance(value, int) and not isinstance(value, bool):
        return f"speaker-{value}"
    return value


def _loop_gain(value: object) -> Ratio:
    """A loop gain: a plain number (`1.2`) or a percentage (`120%`); at most 10 (1000%)."""
    if isinstance(value, int | float) and not isinstance(value, bool):
        if not 0 <= value <= 10:
            raise UnitError(f"a loop gain is between 0 and 10 (1.0 = 100%); got {value}")
        return Ratio(Fraction(str(value)))
    ratio = Ratio.coerce(value)
    if ratio.value > 10:
        raise UnitError(f"a loop gain is at most 1000% (10x); got {ratio}")
    return ratio


LoopGain = Annotated[Ratio, PlainValidator(_loop_gain), PlainSerializer(str, when_used="json")]


class Feedback(Model):
    """A speaker hears the room back: loop `gain` (≥ 1 howls) at `resonance_hz`, after `delay`.

    `via: device` switches on the speaker's own echo device (a control endpoint on the speaker,
    as soundstage's `POST /echo`); `via: harness` closes the loop from outside the stack: the
    harness listens to the room and plays it back into the speaker ingest, as that speaker."""

    speaker: Annotated[Name, BeforeValidator(_speaker_name, json_schema_input_type=int | Name)]
    gain: LoopGain
    delay: PositiveDuration = Duration.parse("50ms")
    resonance_hz: float = Field(default=1000.0, ge=100.0, le=3500.0)
    """Where the loudspeaker-room-microphone path peaks, so where the loop rings (within the
    band an 8 kHz µ-law stream carries)."""
    via: Literal["device", "harness"] = "device"


class FeedbackFault(_Lasting):
    kind: ClassVar[str] = "feedback"
    feedback: Feedback


class KillFault(_Lasting):
    """SIGKILL the component (or one replica, `edge-2`), start it again after `for`."""

    kind: ClassVar[str] = "kill"
    kill: Name


class PauseFault(_Lasting):
    """SIGSTOP the component's processes for `for`, then SIGCONT: a hung server."""

    kind: ClassVar[str] = "pause"
    pause: Name


class PartitionFault(_Lasting):
    """Cut the component (or one replica) off the network for `for`: its processes run on,
    unreachable and unable to reach anyone (Docker disconnect, or its namespace link down)."""

    kind: ClassVar[str] = "partition"
    partition: Name


class RestartFault(_Fault):
    """Stop and start the component at `at`: an instant operation, so it has no `for`."""

    kind: ClassVar[str] = "restart"
    restart: Name


LINK_KINDS = (
    "latency",
    "loss",
    "bandwidth",
    "slicer",
    "timeout",
    "reset_peer",
    "limit_data",
    "slow_close",
    "down",
    "flood",
    "capacity",
)
COMPONENT_KINDS = ("kill", "pause", "restart", "partition")
STREAM_ONLY = ("slicer", "timeout", "reset_peer", "limit_data", "slow_close")
"""Toxics that act on a byte stream and so apply to TCP links only."""

_FAULT = by_key(
    {kind: kind for kind in (*LINK_KINDS, "feedback", *COMPONENT_KINDS)},
    what="fault",
    shared=frozenset({"name", "at", "for", "link", "direction", "toxicity", "layer"}),
    example="{name: slow-edge, at: 20s, for: 60s, link: listener->edge, latency: 200ms}",
)
Fault = Annotated[
    Annotated[LatencyFault, tag("latency")]
    | Annotated[LossFault, tag("loss")]
    | Annotated[BandwidthFault, tag("bandwidth")]
    | Annotated[SlicerFault, tag("slicer")]
    | Annotated[TimeoutFault, tag("timeout")]
    | Annotated[ResetPeerFault, tag("reset_peer")]
    | Annotated[LimitDataFault, tag("limit_data")]
    | Annotated[SlowCloseFault, tag("slow_close")]
    | Annotated[DownFault, tag("down")]
    | Annotated[FloodFault, tag("flood")]
    | Annotated[CapacityFault, tag("capacity")]
    | Annotated[FeedbackFault, tag("feedback")]
    | Annotated[KillFault, tag("kill")]
    | Annotated[PauseFault, tag("pause")]
    | Annotated[PartitionFault, tag("partition")]
    | Annotated[RestartFault, tag("restart")],
    *_FAULT,
]
"""One fault of any kind; `fault.kind` says which, `fault.end` when it is over."""

LinkFault = (
    LatencyFault
    | LossFault
    | BandwidthFault
    | SlicerFault
    | TimeoutFault
    | ResetPeerFault
    | LimitDataFault
    | SlowCloseFault
    | DownFault
    | FloodFault
    | CapacityFault
)
ComponentFault = KillFault | PauseFault | PartitionFault | RestartFault


def target_of(fault: ComponentFault) -> str:
    """The component or replica a component fault acts on."""
    match fault:
        case KillFault():
            return fault.kill
        case PauseFault():
            return fault.pause
        case PartitionFault():
            return fault.partition
        case RestartFault():
            return fault.restart

"""What a simulated restore is measured against, computed from the run's own draws (pure).

- The **bounds**: no restore can be faster than the physical changes it waits for, each batch
  of independent changes taking its slowest member.
- The **plain scripts**: a script that restores the same instance on the same draws, in AWS's
  sample order (stop, detach all, create all, attach all, start) or in the best plain order
  (create while the instance stops). Its calls pay the run's modelled call latencies, in turn,
  and EC2's token buckets; its waits poll like the AWS SDK's waiters (call, then sleep
  ``poll`` seconds), so it sees a change at the first poll after it.

``kinds`` maps a kind of draw (``stop``, ``create``, ``detach``, ``attach``, ``start``,
``checks``, ``api-mutating``, ``api-describe``) to its drawn values in the order drawn.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field

from vss_restore.local.simulation import BUCKETS, _Bucket, bucket_of

AWS_SAMPLE = "aws-sample"  # stop → detach all → create all → attach all → start
BEST_SCRIPT = "best-script"  # create while stopping → detach all → attach all → start


@dataclass(frozen=True)
class Baseline:
    name: str
    poll_seconds: float

    @property
    def key(self) -> str:
        return f"{self.name}-{self.poll_seconds:g}s"


# AWS's sample order with 5, 10 and 15 s polls (15 s is the AWS SDK's EC2 waiters' delay),
# and the best plain script.
BASELINES = (
    Baseline(AWS_SAMPLE, 5),
    Baseline(AWS_SAMPLE, 10),
    Baseline(AWS_SAMPLE, 15),
    Baseline(BEST_SCRIPT, 5),
)


def draws_by_kind(draws: Sequence[tuple[str, str, float]]) -> dict[str, list[float]]:
    kinds: dict[str, list[float]] = {}
    for kind, _, value in draws:
        kinds.setdefault(kind, []).append(value)
    return kinds


def _swap(kinds: dict[str, list[float]]) -> tuple[list[float], list[float], list[float]]:
    """One create, detach and attach per restored volume (later draws are retries)."""
    volumes = len(kinds["create"])
    return kinds["create"], kinds["detach"][:volumes], kinds["attach"][:volumes]


def downtime_bound(kinds: dict[str, list[float]]) -> float:
    """Stop, detach, attach, start: each batch of independent operations takes its slowest."""
    _, detach, attach = _swap(kinds)
    return kinds["stop"][0] + max(detach) + max(attach) + kinds["start"][0]


def rto_bound(
    stop: float,
    creates: Sequence[float],
    detaches: Sequence[float],
    attaches: Sequence[float],
    start: float,
    checks: float,
) -> float:
    """The stop (while the volumes are created), the swap, the start and the status checks."""
    prepared = max([stop, *creates])
    swap = max(detaches, default=0.0) + max(attaches, default=0.0)
    return prepared + swap + start + checks


def restore_rto_bound(kinds: dict[str, list[float]]) -> float:
    create, detach, attach = _swap(kinds)
    return rto_bound(
        kinds["stop"][0], create, detach, attach, kinds["start"][0], kinds["checks"][0]
    )


@dataclass
class ScriptClock:
    """A plain script's own clock: ``now`` moves only by its calls and its waits."""

    poll: float
    mutating: Sequence[float] = ()  # latencies of its mutating calls, used in turn
    describe: Sequence[float] = ()  # latencies of its describe calls, used in turn
    now: float = 0.0
    calls: int = 0
    _used: dict[str, int] = field(default_factory=dict)
    _buckets: dict[str, _Bucket] = field(default_factory=dict)

    def _latency(self, operation: str) -> float:
        kind, values = (
            ("describe", self.describe)
            if operation.startswith("Describe")
            else ("mutating", self.mutating)
        )
        used = self._used.get(kind, 0)
        self._used[kind] = used + 1
        return values[used % len(values)] if values else 0.0

    def call(self, operation: str) -> float:
        """Make one call; when it took effect. An empty bucket delays it until a token."""
        self.now += self._latency(operation)
        name = bucket_of(operation)
        size, refill = BUCKETS[name]
        bucket = self._buckets.setdefault(name, _Bucket(size, refill, size, 0.0))
        if not bucket.take(self.now):
            self.now += (1 - bucket.tokens) / refill
            bucket.take(self.now)
        self.calls += 1
        return self.now

    def wait_until(self, ready_at: float, describe: str = "DescribeVolumes") -> None:
        """Poll until a describe returns at or after ``ready_at``."""
        while self.call(describe) < ready_at:
            self.now += self.poll


@dataclass(frozen=True)
class ScriptTimes:
    rto_s: float  # from the script's first call until it sees the status checks pass
    downtime_s: float  # from its StopInstances taking effect to the instance running


def script_times(kinds: dict[str, list[float]], baseline: Baseline) -> ScriptTimes:
    """The plain script ``baseline`` on one run's draws."""
    create, detach, attach = _swap(kinds)
    clock = ScriptClock(
        baseline.poll_seconds, kinds.get("api-mutating", []), kinds.get("api-describe", [])
    )
    clock.call("DescribeInstances")  # the instance's volumes
    clock.call("DescribeSnapshots")  # the snapshot set
    stop_at = clock.call("StopInstances")
    ready = stop_at + kinds["stop"][0]
    if baseline.name == BEST_SCRIPT:
        created = [clock.call("CreateVolume") + c for c in create]
        clock.wait_until(ready, "DescribeInstances")
        clock.wait_until(max(created))
    else:
        clock.wait_until(ready, "DescribeInstances")
    clock.wait_until(max(clock.call("DetachVolume") + d for d in detach))
    if baseline.name != BEST_SCRIPT:
        clock.wait_until(max(clock.call("CreateVolume") + c for c in create))
    clock.wait_until(max(clock.call("AttachVolume") + a for a in attach))
    start_at = clock.call("StartInstances")
    running = start_at + kinds["start"][0]
    clock.wait_until(running + kinds["checks"][0], "DescribeInstanceStatus")
    return ScriptTimes(rto_s=clock.now, downtime_s=running - stop_at)


def best_of(times: dict[str, ScriptTimes]) -> float:
    """The fastest baseline's recovery time."""
    return min(t.rto_s for t in times.values())

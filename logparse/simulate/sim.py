"""Discrete-time simulator base: one clock, scenario actions, periodic background noise.

Scenario actions (a VM start, an agent restart…) run one after another; each one writes its
lines while advancing the clock by a few milliseconds, so every file stays in time order.
Between actions, :meth:`Simulator.advance_to` emits the periodic noise (agent pings, stats
round trips, UI polling) that falls before the next action.

Two random streams keep the scenario independent of the noise: ``rng`` drives the actions,
``nrng`` the noise. That is what lets ``size`` grow the noise without changing the incident:
a dry run without noise records how many action bytes fall before every hour, and the real
run adjusts the noise density each simulated hour so that the total lands on ``size``.
"""

from __future__ import annotations

import heapq
import random
from dataclasses import dataclass
from typing import Any

from logparse.simulate.core import HOUR_MS, Bundle, Stamp, iso_ms

_MIN_SCALE = 0.02
_MAX_SCALE = 2000.0


@dataclass(frozen=True)
class RunOptions:
    """What a run asks of a scenario: seed, cluster size, noise and the ``size`` controls.

    ``target`` is the wanted total in characters, ``curve`` the action bytes per hour of the dry
    run, ``extra_days`` how many ordinary days the scenario prepends.
    """

    seed: int
    hosts: int
    vms: int
    noise: bool
    target: int | None = None
    curve: list[int] | None = None
    extra_days: int = 0


class Simulator:
    """Clock, random streams, noise heap, size controller and ground-truth lists."""

    def __init__(self, bundle: Bundle, opts: RunOptions, *, start: int, end: int) -> None:
        seed = opts.seed
        self.b = bundle
        self.st = Stamp()
        self.seed = seed
        self.rng = random.Random(seed)
        self.nrng = random.Random(f"noise-{seed}")
        self.now = start
        self.t0 = start
        self.t_end = end
        self.noise = opts.noise
        self.scale = 1.0
        self.noise_chars = 0
        self._heap: list[tuple[int, int, str, int, int]] = []
        self._order = 0
        # size control: action bytes before each hour (dry run) and the running estimate of
        # noise characters per millisecond at scale 1.
        self.target = opts.target
        self.curve_in = opts.curve
        self.curve_out: list[int] = []
        self._next_hour = start + HOUR_MS
        self._hour_noise0 = 0
        self._scaled_ms = 0.0
        self._noise_seen = 0
        # ground truth
        self.attempts: list[dict[str, Any]] = []
        self.events: list[dict[str, Any]] = []

    # -- clock ---------------------------------------------------------------------------
    def step(self, lo: int, hi: int) -> int:
        """Advance the clock by a random ``lo..hi`` ms (action stream) and return it."""
        self.now += self.rng.randint(lo, hi)
        return self.now

    def iso(self) -> str:
        """The current time as a ground-truth ISO string."""
        return iso_ms(self.now)

    def event(self, kind: str, host: str, version: str | None) -> None:
        """Record a ground-truth event at the current time."""
        self.events.append({"kind": kind, "time": self.iso(), "host": host, "version": version})

    # -- noise ---------------------------------------------------------------------------
    def schedule(self, kind: str, index: int, when: int, gen: int = 0) -> None:
        """Queue a periodic noise task; it reschedules itself until it returns None."""
        if not self.noise:
            return
        self._order += 1
        heapq.heappush(self._heap, (when, self._order, kind, index, gen))

    def emit_noise(self, kind: str, index: int, gen: int) -> int | None:
        """Write one noise event at ``self.now``; return the base interval or None to stop."""
        raise NotImplementedError

    def advance_to(self, t: int) -> None:
        """Emit the noise due before ``t``, then move the clock to ``t`` (never backwards)."""
        heap = self._heap
        b = self.b
        while heap and heap[0][0] < t:
            when, _, kind, index, gen = heapq.heappop(heap)
            # a task that fell inside the previous action is postponed right after it
            self.now = when if when > self.now else self.now + self.nrng.randint(1, 40)
            before = b.total
            base = self.emit_noise(kind, index, gen)
            self.noise_chars += b.total - before
            if base is not None:
                nxt = when + max(1, int(base / self.scale))
                self._order += 1
                heapq.heappush(heap, (nxt, self._order, kind, index, gen))
            if self.now >= self._next_hour:
                self._hour_tick()
        if t > self.now:
            self.now = t
        if self.now >= self._next_hour:
            self._hour_tick()

    def _hour_tick(self) -> None:
        while self.now >= self._next_hour:
            self._next_hour += HOUR_MS
            self.curve_out.append(self.b.total - self.noise_chars)
            hour_noise = self.noise_chars - self._hour_noise0
            self._hour_noise0 = self.noise_chars
            if hour_noise > 0:
                self._scaled_ms += self.scale * HOUR_MS
                self._noise_seen += hour_noise
            self._control()

    def _control(self) -> None:
        """Set the noise scale so that the total ends near ``target`` (size mode only)."""
        if self.target is None or not self.curve_in or self._scaled_ms <= 0:
            return
        idx = min(len(self.curve_out), len(self.curve_in)) - 1
        actions_left = max(0, self.curve_in[-1] - self.curve_in[idx]) if idx >= 0 else self.curve_in[-1]
        needed = self.target - self.b.total - actions_left
        remaining = self.t_end - self.now
        if remaining <= 0:
            return
        rate1 = self._noise_seen / self._scaled_ms  # noise chars per ms at scale 1
        wanted = needed / (rate1 * remaining) if rate1 > 0 else _MAX_SCALE
        self.scale = min(_MAX_SCALE, max(_MIN_SCALE, wanted))

    def finish(self) -> None:
        """Emit the noise up to the end time."""
        self.advance_to(self.t_end)
        self.curve_out.append(self.b.total - self.noise_chars)

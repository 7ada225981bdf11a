"""The emulator's clock for Step Functions Retry intervals, Wait states and the tasks'
polling sleeps.

The definition keeps production retry intervals and waits (seconds to minutes), and the
wait tasks their poll intervals. Locally all are multiplied by ``time_scale`` (0 = no
sleeping) so demos and tests run in seconds; in simulation mode they are waited on the
virtual clock instead, and nothing really sleeps.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from types import ModuleType, SimpleNamespace
from typing import Any

from moto.stepfunctions.parser.asl.component.common.retry import retrier_decl
from moto.stepfunctions.parser.asl.component.state.wait.wait_function.wait_function import (
    WaitFunction,
)

from vss_restore import waiting

# Real seconds a task's poll pauses at least, whatever the scale.
TASK_POLL_FLOOR_SECONDS = 0.02
# Real seconds a Wait state pauses at least: a loop of RunFleet turns leaves the
# interpreter to the restores it follows.
WAIT_STATE_FLOOR_SECONDS = 0.05


class ScaledRetryClock:
    def __init__(self, time_scale: float, pass_time: Callable[[float], None] | None = None) -> None:
        if time_scale < 0:
            raise ValueError("time_scale must be >= 0")
        self.time_scale = time_scale
        # Simulation mode: waits run on its virtual clock (``VirtualClock.sleep``).
        self.pass_time = pass_time
        self.slept: list[float] = []
        self._original: ModuleType | Any = None
        self._original_task_sleep: Callable[[float], None] | None = None
        self._original_wait: Any = None

    def sleep(self, seconds: float) -> None:
        self.slept.append(seconds)
        if self.pass_time is not None:
            self.pass_time(seconds)
        elif seconds * self.time_scale > 0:
            time.sleep(seconds * self.time_scale)

    def task_sleep(self, seconds: float) -> None:
        """A task's pause between polls: scaled, but never a busy loop. A task that follows
        other executions (RunFleet) would otherwise take the interpreter from them."""
        self.sleep(seconds)
        if self.pass_time is None and seconds * self.time_scale < TASK_POLL_FLOOR_SECONDS:
            time.sleep(TASK_POLL_FLOOR_SECONDS)

    def wait_state(self, env: Any, seconds: float) -> None:
        """A Wait state: scaled (or on the virtual clock), and cut short by a stop as moto's
        own wait is (``program_state_event`` is set when the execution stops)."""
        self.slept.append(seconds)
        if self.pass_time is not None:
            self.pass_time(seconds)
            pause = WAIT_STATE_FLOOR_SECONDS
        else:
            pause = max(seconds * self.time_scale, WAIT_STATE_FLOOR_SECONDS)
        env.program_state_event.wait(pause)

    def install(self) -> None:
        self._original = retrier_decl.time
        retrier_decl.time = SimpleNamespace(sleep=self.sleep, time=time.time)
        self._original_task_sleep = waiting.sleep
        waiting.sleep = self.task_sleep
        self._original_wait = WaitFunction.__dict__["_wait_interval"]
        clock = self

        def wait_interval(_function: WaitFunction, env: Any, wait_seconds: int) -> None:
            clock.wait_state(env, wait_seconds)

        WaitFunction._wait_interval = wait_interval

    def uninstall(self) -> None:
        if self._original is not None:
            retrier_decl.time = self._original
            self._original = None
        if self._original_task_sleep is not None:
            waiting.sleep = self._original_task_sleep
            self._original_task_sleep = None
        if self._original_wait is not None:
            WaitFunction._wait_interval = self._original_wait
            self._original_wait = None

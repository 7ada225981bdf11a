"""The emulator's clock for Step Functions Retry intervals.

The definition keeps production retry intervals (seconds to minutes). Locally they are
multiplied by ``time_scale`` (0 = no sleeping) so demos and tests run in seconds.
"""

from __future__ import annotations

import time
from types import ModuleType, SimpleNamespace
from typing import Any

from moto.stepfunctions.parser.asl.component.common.retry import retrier_decl


class ScaledRetryClock:
    def __init__(self, time_scale: float) -> None:
        if time_scale < 0:
            raise ValueError("time_scale must be >= 0")
        self.time_scale = time_scale
        self.slept: list[float] = []
        self._original: ModuleType | Any = None

    def sleep(self, seconds: float) -> None:
        self.slept.append(seconds)
        if seconds * self.time_scale > 0:
            time.sleep(seconds * self.time_scale)

    def install(self) -> None:
        self._original = retrier_decl.time
        retrier_decl.time = SimpleNamespace(sleep=self.sleep, time=time.time)

    def uninstall(self) -> None:
        if self._original is not None:
            retrier_decl.time = self._original
            self._original = None

"""Simulation mode's clock: modelled time moves only through modelled waits.

Every simulated activity — an execution, a task, a Parallel branch, a Map iteration, a
child execution — runs in a thread of the emulator's interpreter. The ``VirtualClock``
lets one of them run at a time (it holds the baton) and passes the baton on only when that
thread waits: it sleeps a modelled delay, waits for an event, or joins a thread. Threads
ready to run take the baton first come, first served; when none is ready, the clock jumps
to the earliest wake-up (ties in the order they were asked for) and wakes that thread.

So computing takes no modelled time, waiting takes exactly the modelled time, nothing
really sleeps, and the order of everything — calls, draws, resource ids, history events —
follows from the seed alone, however busy the machine is.

Threads the clock did not start (a test's main thread following an execution) are outside
the simulation: their sleeps take no time and they never wait for the baton.

The date the interpreter and the tasks see (history timestamps, ``$$.State.EnteredTime``,
a report's times) is the clock's modelled date: the real date when the clock was made,
plus the modelled seconds since.
"""

from __future__ import annotations

import datetime as dt
import functools
import heapq
import random
import sys
import threading
import time
import traceback
from collections import deque
from collections.abc import Callable, Iterable
from concurrent.futures import Future
from dataclasses import dataclass, field
from types import ModuleType, SimpleNamespace
from typing import Any, cast

from moto.stepfunctions.parser import models
from moto.stepfunctions.parser.asl.component.common.retry import jitter_strategy_decl
from moto.stepfunctions.parser.asl.component.program import program
from moto.stepfunctions.parser.asl.component.state import state
from moto.stepfunctions.parser.asl.component.state.exec import execute_state
from moto.stepfunctions.parser.asl.component.state.exec.state_map.iteration import (
    inline_iteration_component,
    job,
)
from moto.stepfunctions.parser.asl.component.state.exec.state_parallel import (
    branch_worker,
    branches_decl,
)
from moto.stepfunctions.parser.asl.component.state.wait.wait_function import wait_function
from moto.stepfunctions.parser.asl.eval import environment
from moto.stepfunctions.parser.asl.eval.event import event_manager
from moto.stepfunctions.parser.backend import execution, execution_worker

from vss_restore import swap, waiting

# Real seconds the baton may stay with one thread before the simulation is declared stuck
# (a thread blocked on something the clock does not see, such as a lock held by a thread
# that is waiting for the baton). Each step of a simulated thread takes milliseconds.
STALL_SECONDS = 120.0


class SimulationStalled(RuntimeError):
    """A simulated thread kept the baton too long: it is blocked outside the clock."""


@dataclass(eq=False)
class _Task:
    """A simulated thread, as the clock sees it."""

    name: str
    turn: threading.Condition
    ident: int | None = None
    done: bool = False
    woken_by: str = ""
    timer: int = 0  # sequence number of its pending wake-up; 0: none
    state: str = "ready to start"
    joiners: list[_Task] = field(default_factory=list)


class VirtualClock:
    """A discrete-event scheduler over the interpreter's threads (see the module doc)."""

    def __init__(self, stall_seconds: float = STALL_SECONDS) -> None:
        self.stall_seconds = stall_seconds
        self._lock = threading.Lock()
        self._outside = threading.Condition(self._lock)  # untracked threads waiting
        self._now = 0.0
        self._holder: _Task | None = None
        self._ready: deque[_Task] = deque()
        self._timers: list[tuple[float, int, _Task]] = []
        self._sequence = 0
        self._tasks: dict[int, _Task] = {}
        self._closed = False
        self._handed_over_at = time.monotonic()
        self.started_at = dt.datetime.now(dt.UTC)

    # --- what the simulation reads and does ----------------------------------------------

    def now(self) -> float:
        """Modelled seconds since the clock started."""
        return self._now

    def date(self) -> dt.datetime:
        """The modelled date: when the clock was made, plus the modelled seconds since."""
        return self.started_at + dt.timedelta(seconds=self._now)

    def sleep(self, seconds: float) -> None:
        """The calling simulated thread waits ``seconds`` of modelled time."""
        with self._lock:
            task = self._current()
            if task is None:
                return  # outside the simulation: no modelled time to wait
            if seconds > 0:
                self._wake_later(task, seconds)
            else:
                self._ready.append(task)
            self._block(task, f"sleeping {seconds:g} s")

    def thread(self, *args: Any, **kwargs: Any) -> threading.Thread:
        """A ``threading.Thread`` whose run is a simulated activity."""
        return _SimulatedThread(self, *args, **kwargs)

    def event(self) -> Event:
        return Event(self)

    def wait_idle(self, timeout: float) -> bool:
        """Wait (in real time, outside the simulation) until no simulated thread can run:
        all have ended or wait for something outside. False: still busy after ``timeout``.

        Following an execution this way, rather than by polling, keeps the caller's calls
        out of the emulator's id stream while the simulation runs.
        """
        with self._lock:
            return self._outside.wait_for(
                lambda: self._holder is None or self._closed, timeout=timeout
            )

    def close(self) -> None:
        """Stop simulating: every thread runs freely from now on."""
        with self._lock:
            self._closed = True
            self._holder = None
            for task in self._tasks.values():
                task.turn.notify_all()
            self._outside.notify_all()

    # --- the baton (all below with ``_lock`` held) ---------------------------------------

    def _current(self) -> _Task | None:
        if self._closed:
            return None
        return self._tasks.get(threading.get_ident())

    def _wake_later(self, task: _Task, seconds: float) -> None:
        self._sequence += 1
        task.timer = self._sequence
        heapq.heappush(self._timers, (self._now + seconds, self._sequence, task))

    def _make_ready(self, task: _Task, reason: str) -> None:
        if task is self._holder or task in self._ready:
            return  # already woken (a wake-up came due while a thread outside set an event)
        task.timer = 0
        task.woken_by = reason
        self._ready.append(task)
        if self._holder is None:
            self._hand_over()

    def _hand_over(self) -> None:
        """Give the baton to the next ready thread, or move time to the next wake-up."""
        chosen: _Task | None = None
        if self._ready:
            chosen = self._ready.popleft()
        while chosen is None and self._timers:
            due, sequence, task = heapq.heappop(self._timers)
            if task.timer == sequence:  # not cancelled
                task.timer = 0
                task.woken_by = "timeout"
                self._now = max(self._now, due)
                chosen = task
        self._holder = chosen
        self._handed_over_at = time.monotonic()
        if chosen is not None:
            chosen.turn.notify()
        else:
            self._outside.notify_all()

    def _block(self, task: _Task, state: str) -> None:
        """The holder waits: hand the baton on, and take it back when it is its turn."""
        task.state = state
        task.woken_by = ""
        if self._holder is task:
            self._hand_over()
        self._await_turn(task)

    def _await_turn(self, task: _Task) -> None:
        while self._holder is not task and not self._closed:
            task.turn.wait(timeout=1.0)
            stuck = time.monotonic() - self._handed_over_at
            if self._holder is not None and self._holder is not task and stuck > self.stall_seconds:
                raise SimulationStalled(self._describe(stuck))
        task.state = "running"

    def _describe(self, stuck: float) -> str:
        holder = self._holder
        lines = [
            f"the simulated thread {holder.name if holder else '?'} has run for "
            f"{stuck:.0f} s without waiting (modelled time {self._now:.3f} s); threads:"
        ]
        frames = sys._current_frames()
        for ident, task in sorted(self._tasks.items(), key=lambda item: item[1].name):
            lines.append(f"- {task.name}: {task.state}")
            if task is holder and ident in frames:
                lines.extend("    " + line for line in traceback.format_stack(frames[ident]))
        return "\n".join(lines)

    # --- threads -------------------------------------------------------------------------

    def _spawned(self, name: str) -> _Task | None:
        """A simulated thread is about to start: it joins the queue of ready threads."""
        with self._lock:
            if self._closed:
                return None
            task = _Task(name, threading.Condition(self._lock))
            self._make_ready(task, "started")
            return task

    def _started(self, task: _Task) -> None:
        with self._lock:
            task.ident = threading.get_ident()
            if self._closed:
                return
            self._tasks[task.ident] = task
            self._await_turn(task)

    def _ended(self, task: _Task) -> None:
        with self._lock:
            task.done = True
            task.state = "ended"
            if task.ident is not None:
                self._tasks.pop(task.ident, None)
            for joiner in task.joiners:
                self._make_ready(joiner, "joined")
            task.joiners.clear()
            if self._holder is task:
                self._hand_over()

    def _join(self, task: _Task, timeout: float | None) -> bool:
        """A simulated thread joins ``task``; False: the caller is outside the simulation."""
        with self._lock:
            me = self._current()
            if me is None:
                return False
            if task.done:
                return True
            task.joiners.append(me)
            if timeout is not None:
                self._wake_later(me, timeout)
            self._block(me, f"joining {task.name}")
            if me in task.joiners:
                task.joiners.remove(me)
            return True


class _SimulatedThread(threading.Thread):
    def __init__(self, clock: VirtualClock, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self._clock = clock
        self._task: _Task | None = None

    def start(self) -> None:
        self._task = self._clock._spawned(self.name)
        super().start()

    def run(self) -> None:
        task = self._task
        if task is not None:
            self._clock._started(task)
        try:
            super().run()
        finally:
            if task is not None:
                self._clock._ended(task)

    def join(self, timeout: float | None = None) -> None:
        task = self._task
        if task is None or not self._clock._join(task, timeout):
            super().join(timeout)

    def is_alive(self) -> bool:
        # Its simulated run may be over while the thread is still on its way out.
        if self._task is not None and self._task.done:
            return False
        return super().is_alive()


class Event:
    """``threading.Event`` on the virtual clock: a timed wait is a modelled timeout."""

    def __init__(self, clock: VirtualClock) -> None:
        self._clock = clock
        self._flag = False
        self._sets = 0
        self._waiters: list[_Task] = []

    def is_set(self) -> bool:
        return self._flag

    def set(self) -> None:
        clock = self._clock
        with clock._lock:
            self._flag = True
            self._sets += 1
            waiters, self._waiters = self._waiters, []
            for task in waiters:
                clock._make_ready(task, "set")
            clock._outside.notify_all()

    def clear(self) -> None:
        with self._clock._lock:
            self._flag = False

    def wait(self, timeout: float | None = None) -> bool:
        clock = self._clock
        with clock._lock:
            if self._flag:
                return True
            task = clock._current()
            if task is None:
                return self._wait_outside(timeout)
            self._waiters.append(task)
            if timeout is not None:
                clock._wake_later(task, timeout)
            clock._block(task, "waiting for an event")
            if task.woken_by == "set":
                return True
            if task in self._waiters:
                self._waiters.remove(task)
            return self._flag

    def _wait_outside(self, timeout: float | None) -> bool:
        """A thread outside the simulation waits in real time (``_lock`` held)."""
        sets = self._sets
        deadline = None if timeout is None else time.monotonic() + timeout
        while not self._flag and self._sets == sets:
            remaining = None if deadline is None else deadline - time.monotonic()
            if remaining is not None and remaining <= 0:
                return False
            self._clock._outside.wait(remaining)
        return True


class ThreadPool:
    """``ThreadPoolExecutor`` for task code: its workers are simulated threads.

    Jobs run first come, first served on at most ``max_workers`` workers; leaving the
    ``with`` block joins them, as the executor's ``shutdown`` does.
    """

    def __init__(self, clock: VirtualClock, max_workers: int | None = None) -> None:
        self._clock = clock
        self._max_workers = max_workers or 8
        self._jobs: deque[tuple[Future[Any], Callable[..., Any], tuple[Any, ...]]] = deque()
        self._workers: list[threading.Thread] = []
        self._busy = 0

    def submit(self, fn: Callable[..., Any], /, *args: Any) -> Future[Any]:
        future: Future[Any] = Future()
        self._jobs.append((future, fn, args))
        if self._busy < self._max_workers:
            self._busy += 1
            worker = self._clock.thread(target=self._work, daemon=True)
            self._workers.append(worker)
            worker.start()
        return future

    def _work(self) -> None:
        # One simulated thread runs at a time: the queue needs no lock of its own.
        while self._jobs:
            future, fn, args = self._jobs.popleft()
            try:
                future.set_result(fn(*args))
            except BaseException as err:
                future.set_exception(err)
        self._busy -= 1

    def shutdown(self, wait: bool = True) -> None:
        if wait:
            for worker in self._workers:
                worker.join()

    def __enter__(self) -> ThreadPool:
        return self

    def __exit__(self, *_: object) -> None:
        self.shutdown()


# --- the interpreter's threads, events and clock ------------------------------------------


class _ModelledDatetime(dt.datetime):
    clock: VirtualClock

    @classmethod
    def now(cls, tz: dt.tzinfo | None = None) -> _ModelledDatetime:
        date = cls.clock.date()
        return cast(_ModelledDatetime, date.astimezone(tz) if tz else date.replace(tzinfo=None))


class _DatetimeModule:
    """The ``datetime`` module, but its ``datetime.now()`` is the clock's modelled date."""

    def __init__(self, clock: VirtualClock) -> None:
        self.datetime = type("datetime", (_ModelledDatetime,), {"clock": clock})

    def __getattr__(self, name: str) -> Any:
        return getattr(dt, name)


class SimulationPatches:
    """Points the interpreter's ``threading``, ``Thread``, ``time``, ``datetime`` and retry
    jitter names, the tasks' clock (``waiting.clock``) and their thread pool (``swap``) at
    a ``VirtualClock`` and a seeded random stream.

    Execution workers, state machine programs, Task states (and their TimeoutSeconds),
    Parallel branches, Map iterations and Wait states then run as simulated threads, and
    every date the workflow sees is a modelled date.
    """

    def __init__(self, clock: VirtualClock, seed: int = 0) -> None:
        self.clock = clock
        # Retry jitter (``JitterStrategy: FULL``) from a stream the seed names, drawn in the
        # clock's order (the interpreter draws it from the process's unseeded ``random``).
        self.jitter = random.Random(f"{seed}:retry-jitter")  # noqa: S311 - a model, not a secret
        self._saved: list[tuple[ModuleType, str, Any]] = []

    def install(self) -> None:
        simulated_threading = SimpleNamespace(
            Thread=self.clock.thread,
            Event=self.clock.event,
            Lock=threading.Lock,
            RLock=threading.RLock,
        )
        virtual_time = SimpleNamespace(time=lambda: self.clock.date().timestamp())
        virtual_datetime = _DatetimeModule(self.clock)
        names: Iterable[tuple[ModuleType, str, Any]] = [
            *(
                (module, "threading", simulated_threading)
                for module in (
                    program,
                    execute_state,
                    inline_iteration_component,
                    job,
                    branch_worker,
                    branches_decl,
                    environment,
                )
            ),
            (execute_state, "Thread", self.clock.thread),
            (execution_worker, "Thread", self.clock.thread),
            (wait_function, "time", virtual_time),
            *(
                (module, "datetime", virtual_datetime)
                for module in (state, event_manager, models, execution)
            ),
            (waiting, "clock", self.clock.date),
            (swap, "ThreadPoolExecutor", functools.partial(ThreadPool, self.clock)),
            (jitter_strategy_decl, "random", self.jitter),
        ]
        for module, name, value in names:
            self._saved.append((module, name, getattr(module, name)))
            setattr(module, name, value)

    def uninstall(self) -> None:
        for module, name, value in reversed(self._saved):
            setattr(module, name, value)
        self._saved.clear()


def run_simulated(clock: VirtualClock, target: Callable[[], object], name: str = "main") -> None:
    """Run ``target`` as a simulated thread and wait (in real time) until it has ended."""
    thread = clock.thread(target=target, name=name, daemon=True)
    thread.start()
    thread.join()

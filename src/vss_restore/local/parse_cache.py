"""The emulator parses a definition once per process, not on every create and execution.

moto's Step Functions interpreter parses the whole definition with ANTLR when a state
machine is created or updated, and again when each execution starts: most of a second
for the restore definition, paid hundreds of times by a test run. The parsed program holds
only what the definition says (each execution evaluates it in an environment of its own),
so one parse serves every execution of the same text. A definition that fails to parse is
not kept: it fails again, with the same error, on the next call.

This changes how fast the emulator is, not what it does; only the local engine installs it.
"""

from __future__ import annotations

import threading
from collections import OrderedDict
from typing import Any, ClassVar

# Definitions kept at once: the engine's two, plus the variants tests render with other
# limits. Each parse holds a few megabytes.
KEEP = 12


class ParsedDefinitions:
    """A process-wide cache of ``AmazonStateLanguageParser.parse`` by definition text."""

    _cache: ClassVar[OrderedDict[str, Any]] = OrderedDict()
    _lock: ClassVar[threading.Lock] = threading.Lock()
    parses: ClassVar[int] = 0  # parses actually run (misses), for tests and curiosity

    def __init__(self) -> None:
        self._original: Any = None

    def install(self) -> None:
        from moto.stepfunctions.parser.asl.parse.asl_parser import (  # noqa: PLC0415
            AmazonStateLanguageParser,
        )

        self._original = AmazonStateLanguageParser.__dict__["parse"]
        parse = self._original.__func__
        cls = type(self)

        def cached_parse(definition: str) -> Any:
            with cls._lock:
                if definition in cls._cache:
                    cls._cache.move_to_end(definition)
                    return cls._cache[definition]
            parsed = parse(definition)  # outside the lock: raises for a bad definition
            with cls._lock:
                cls.parses += 1
                cls._cache[definition] = parsed
                while len(cls._cache) > KEEP:
                    cls._cache.popitem(last=False)
            return parsed

        AmazonStateLanguageParser.parse = staticmethod(cached_parse)

    def uninstall(self) -> None:
        if self._original is None:
            return
        from moto.stepfunctions.parser.asl.parse.asl_parser import (  # noqa: PLC0415
            AmazonStateLanguageParser,
        )

        AmazonStateLanguageParser.parse = self._original
        self._original = None

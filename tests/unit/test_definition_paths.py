"""Every JSONPath a definition reads exists on every way into the state that reads it.

On AWS a path that selects nothing (in ``Parameters``, ``InputPath``, ``ResultSelector``,
a Choice rule, an intrinsic function's argument) fails the execution with
``States.Runtime``, which no Catch takes: a typo on a rollback path would stop a restore
mid-swap with the lock held. This walks each definition's graph from its input contract,
collecting the paths known to exist after each state (on every way in: the intersection),
and checks each reference against them.

What is known: the request fields ``ValidateRequest`` carries (every mode's field, from the
request models: ``RestoreRequest.to_payload``), what Pass states and ``Parameters`` build,
what a Catch stores (``Error``, ``Cause``), and where each Task puts its result. A task's
result is otherwise opaque (its handler returns a dict): any path below its ``ResultPath``
is taken to exist.
"""

from __future__ import annotations

import copy
import json
import re
from collections.abc import Iterator
from typing import Any, get_args

import pytest

from vss_restore.capabilities import CAPABILITY_MODES, FLEET_CAPABILITY, MACHINES, Machine
from vss_restore.definition import definition_path
from vss_restore.models import CARRIED_DEFAULTS, REQUEST_MODELS, Mode

# A subtree nothing is known about: any path below it exists.
OPEN: dict[str, Any] = {"*": None}
# The context object paths the definitions may read.
CONTEXT = {
    "$$.Execution.Id",
    "$$.Execution.Name",
    "$$.Execution.Input",
    "$$.Execution.RedriveCount",
    "$$.State.EnteredTime",
}
Shape = dict[Any, Any]  # key -> Shape; OPEN; an array's known items under int keys


def _is_open(shape: Shape) -> bool:
    return "*" in shape


def _open() -> Shape:
    return dict(OPEN)


def request_fields(modes: tuple[Mode, ...]) -> Shape:
    """What ``$.Request`` holds after ValidateRequest: every field of the machine's modes,
    and every other mode's field at its default (``RestoreRequest.to_payload``)."""
    fields: set[str] = set(CARRIED_DEFAULTS)
    for mode in modes:
        fields |= {f.alias or name for name, f in REQUEST_MODELS[mode].model_fields.items()}
    return {name: _open() for name in sorted(fields)}


def validated(modes: tuple[Mode, ...]) -> Shape:
    """ValidateRequest's result (``functions/validate_request.py``)."""
    result = {"Request": request_fields(modes), "Execution": _open(), "StartedAt": _open()}
    if "Mount" in modes:
        result["MountTarget"] = _open()
    return result


# --- JSONPath --------------------------------------------------------------------------

_TOKEN = re.compile(r"\.([A-Za-z_][A-Za-z0-9_]*)|\['([^']+)'\]|\[(\d+)\]|\[(\*)\]")


def _steps(path: str) -> list[Any]:
    if path == "$":
        return []
    rest, steps, at = path[1:], [], 0
    while at < len(rest):
        match = _TOKEN.match(rest, at)
        if match is None:
            raise ValueError(f"cannot read path {path!r}")
        name, quoted, index, star = match.groups()
        steps.append(name or quoted or (int(index) if index else star))
        at = match.end()
    return steps


def select(shape: Shape, path: str) -> Shape | None:
    """The subtree at ``path`` (None when it may not exist)."""
    node: Shape | None = shape
    for step in _steps(path):
        if node is None:
            return None
        if _is_open(node):
            return _open()
        if step == "*":
            items = [v for k, v in node.items() if isinstance(k, int)]
            node = intersect_all(items) if items else None
            continue
        node = node.get(step)
    return node


def put(shape: Shape, path: str, value: Shape) -> Shape:
    """``shape`` with ``value`` at ``path`` (a ResultPath)."""
    steps = _steps(path)
    if not steps:
        return copy.deepcopy(value)
    result = copy.deepcopy(shape)
    node = result
    for step in steps[:-1]:
        if _is_open(node):
            return result
        node = node.setdefault(step, {})
    if not _is_open(node):
        node[steps[-1]] = copy.deepcopy(value)
    return result


def intersect(a: Shape, b: Shape) -> Shape:
    """What exists in both."""
    if _is_open(a):
        return copy.deepcopy(b)
    if _is_open(b):
        return copy.deepcopy(a)
    return {k: intersect(a[k], b[k]) for k in a.keys() & b.keys()}


def intersect_all(shapes: list[Shape]) -> Shape:
    result = shapes[0]
    for shape in shapes[1:]:
        result = intersect(result, shape)
    return result


# --- the walk --------------------------------------------------------------------------

_PATH_IN_INTRINSIC = re.compile(r"(?<![\w'])(\$\$?(?:\.[A-Za-z_][\w]*|\[[^\]]*\])*)")


def references(value: str) -> list[str]:
    """The paths a ``.$`` value reads: itself, or an intrinsic function's path arguments."""
    if value.startswith("$"):
        return [value]
    without_strings = re.sub(r"'(?:\\.|[^'\\])*'", "''", value)
    return _PATH_IN_INTRINSIC.findall(without_strings)


class Walk:
    """Known paths at each state of one definition, and the references that may miss."""

    def __init__(self, modes: tuple[Mode, ...]) -> None:
        self.modes = modes
        self.missing: dict[str, None] = {}  # in the order found, each once

    def check(self, where: str, shape: Shape, path: str) -> None:
        if path.startswith("$$"):
            if path not in CONTEXT:
                self.missing[f"{where}: {path} (context)"] = None
        elif select(shape, path) is None:
            self.missing[f"{where}: {path}"] = None

    def template(self, where: str, shape: Shape, template: Any) -> Shape:
        """What a ``Parameters`` / ``ResultSelector`` template builds; checks its paths."""
        if isinstance(template, list):
            return {i: self.template(where, shape, v) for i, v in enumerate(template)}
        if not isinstance(template, dict):
            return {}
        built: Shape = {}
        for key, value in template.items():
            if key.endswith(".$") and isinstance(value, str):
                for path in references(value):
                    self.check(f"{where} {key}", shape, path)
                whole = value.startswith("$") and not value.startswith("$$")
                built[key[:-2]] = (select(shape, value) or {}) if whole else _open()
            else:
                built[key] = self.template(where, shape, value)
        return built

    def states(self, states: dict[str, Any], start: str, entry: Shape) -> Shape:
        """Walk a state list from ``start``; returns what its ends output (on every end)."""
        inputs: dict[str, Shape] = {}
        ends: dict[str, Shape] = {}
        pending = [(start, entry)]
        while pending:
            name, shape = pending.pop()
            known = inputs.get(name)
            merged = shape if known is None else intersect(known, shape)
            if known is not None and merged == known:
                continue  # nothing new known on this way in
            inputs[name] = merged
            for target, out in self.state(name, states[name], merged):
                if target is None:
                    ends[name] = out
                else:
                    pending.append((target, out))
        return intersect_all(list(ends.values())) if ends else {}

    def state(
        self, name: str, state: dict[str, Any], raw: Shape
    ) -> Iterator[tuple[str | None, Shape]]:
        """Where ``state`` goes next and what it passes there, checking what it reads."""
        if state["Type"] == "Choice":
            for rule in state["Choices"]:
                self.rule(name, raw, rule)
                yield rule["Next"], raw
            if "Default" in state:
                yield state["Default"], raw
            return
        if state["Type"] == "Fail":
            for field in ("ErrorPath", "CausePath"):
                if field in state:
                    self.check(f"{name} {field}", raw, state[field])
            return
        result = self.result(name, state, self.effective_input(name, state, raw))
        for catch in state.get("Catch", []):
            at = catch.get("ResultPath", "$")
            yield catch["Next"], raw if at is None else put(raw, at, {"Error": {}, "Cause": {}})
        at = state.get("ResultPath", "$")
        out = raw if at is None or state["Type"] == "Succeed" else put(raw, at, result)
        if state.get("OutputPath") is not None:
            self.check(f"{name} OutputPath", out, state["OutputPath"])
            out = select(out, state["OutputPath"]) or {}
        yield (None if state.get("End") or state["Type"] == "Succeed" else state["Next"]), out

    def effective_input(self, name: str, state: dict[str, Any], raw: Shape) -> Shape:
        """The state's input after ``InputPath`` and ``Parameters``."""
        shape = raw
        if state.get("InputPath") is not None:
            self.check(f"{name} InputPath", raw, state["InputPath"])
            shape = select(raw, state["InputPath"]) or {}
        if "Parameters" in state:
            shape = self.template(f"{name} Parameters", shape, state["Parameters"])
        return shape

    def result(self, name: str, state: dict[str, Any], shape: Shape) -> Shape:
        """What the state produces (after ``ResultSelector``), before ``ResultPath``."""
        kind = state["Type"]
        result = shape  # Pass without Result, Succeed
        if kind == "Task":
            result = validated(self.modes) if name == "ValidateRequest" else _open()
        elif kind == "Pass" and "Result" in state:
            result = self.template(name, {}, state["Result"])
        elif kind == "Parallel":
            # Each branch starts from the state's input; the result is their outputs, in order.
            result = {
                i: self.states(branch["States"], branch["StartAt"], shape)
                for i, branch in enumerate(state["Branches"])
            }
        if "ResultSelector" in state:
            result = self.template(f"{name} ResultSelector", result, state["ResultSelector"])
        return result

    def rule(self, where: str, shape: Shape, rule: dict[str, Any]) -> None:
        for nested in (
            rule.get("And", []) + rule.get("Or", []) + ([rule["Not"]] if "Not" in rule else [])
        ):
            self.rule(where, shape, nested)
        if "Variable" in rule and "IsPresent" not in rule:
            self.check(f"{where} Variable", shape, rule["Variable"])
        for key, value in rule.items():
            if key.endswith("Path") and key != "Variable" and isinstance(value, str):
                self.check(f"{where} {key}", shape, value)


def _modes(machine: Machine) -> tuple[Mode, ...]:
    """The modes a machine's ValidateRequest accepts (a fleet's: those of its executions)."""
    by_capability: dict[str, tuple[str, ...]] = {str(c): m for c, m in CAPABILITY_MODES.items()}
    modes = by_capability[FLEET_CAPABILITY.get(machine, machine)]
    return tuple(m for m in get_args(Mode) if m in modes)


def missing_paths(definition: dict[str, Any], modes: tuple[Mode, ...]) -> list[str]:
    """The references that may select nothing, as ``"<state> <field>: <path>"``."""
    walk = Walk(modes)
    # The input is the caller's: nothing in it is known until ValidateRequest has read it.
    walk.states(definition["States"], definition["StartAt"], {})
    return list(walk.missing)


def _definition(machine: Machine) -> dict[str, Any]:
    loaded: dict[str, Any] = json.loads(definition_path(machine).read_text())
    return loaded


@pytest.mark.parametrize("machine", MACHINES)
def test_definition_reads_only_paths_that_exist_on_every_way_in(machine: Machine) -> None:
    # GIVEN the definition and its input contract
    definition = _definition(machine)

    # WHEN every state's references are checked against what the states before it produce
    missing = missing_paths(definition, _modes(machine))

    # THEN none may select nothing (AWS: States.Runtime, which no Catch takes)
    assert missing == []


def _parameters_of(definition: dict[str, Any], state: str) -> dict[str, Any]:
    parameters: dict[str, Any] = definition["States"][state]["Parameters"]
    return parameters


def test_check_finds_a_misspelt_request_field_on_the_rollback_path() -> None:
    # GIVEN the restore definition with a typo in a rollback task's parameters
    definition = _definition("restore")
    _parameters_of(definition, "ReleaseLockAfterFailure")["InstanceId.$"] = "$.Request.InstanceID"

    # WHEN / THEN the check names it
    assert missing_paths(definition, _modes("restore")) == [
        "ReleaseLockAfterFailure Parameters InstanceId.$: $.Request.InstanceID"
    ]


def test_check_finds_a_result_read_on_a_way_in_where_its_task_has_not_run() -> None:
    # GIVEN the restore definition where releasing the lock after a failure reads the plan,
    # which a failure of FindSnapshotSet (before PlanRestore) has not made
    definition = _definition("restore")
    _parameters_of(definition, "ReleaseLockAfterFailure")["Plan.$"] = "$.Plan"

    # WHEN / THEN the check names it
    assert missing_paths(definition, _modes("restore")) == [
        "ReleaseLockAfterFailure Parameters Plan.$: $.Plan"
    ]


def test_check_finds_a_bad_path_in_an_intrinsic_functions_arguments() -> None:
    # GIVEN a Pass state formatting a field the request does not have
    definition = {
        "StartAt": "ValidateRequest",
        "States": {
            "ValidateRequest": {"Type": "Task", "Resource": "x", "ResultPath": "$", "Next": "Say"},
            "Say": {
                "Type": "Pass",
                "Parameters": {"Text.$": "States.Format('{} on {}', $.Request.Nope, $.Execution)"},
                "End": True,
            },
        },
    }

    # WHEN / THEN
    assert missing_paths(definition, ("InPlace",)) == ["Say Parameters Text.$: $.Request.Nope"]

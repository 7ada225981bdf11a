"""The disk document's PowerShell as a syntax tree (tree-sitter's PowerShell grammar), and
the checks the tests run on it. Each check returns what it found wrong, one line each."""

from __future__ import annotations

import json
import re
import warnings
from collections.abc import Iterator
from dataclasses import dataclass
from importlib import resources
from pathlib import Path
from typing import Any

import tree_sitter_powershell
from tree_sitter import Language, Node, Parser, Tree

with warnings.catch_warnings():  # the parser behind re, deprecated only as a public name
    warnings.simplefilter("ignore", DeprecationWarning)
    import sre_constants
    import sre_parse

PARSER = Parser(Language(tree_sitter_powershell.language()))
CMDLETS_FILE = Path(__file__).with_name("cmdlets.json")
# Windows PowerShell reads these as single quotes too (its tokenizer's quote classes).
SINGLE_QUOTES = ("'", "\u2018", "\u2019", "\u201a", "\u201b")
SINGLE_QUOTED = ("verbatim_string_characters", "verbatim_here_string_characters")
EXPANDABLE = ("expandable_string_literal", "expandable_here_string_literal")
LOOPS = ("foreach_statement", "for_statement", "while_statement", "do_statement")
PLACEHOLDER = re.compile(r"\{\{\s*(.*?)\s*\}\}")


def script_text() -> str:
    """The script the stack deploys, as the package ships it."""
    return resources.files("vss_restore").joinpath("documents/windows-disks.ps1").read_text()


def parse(text: str) -> Tree:
    return PARSER.parse(text.encode())


def walk(node: Node) -> Iterator[Node]:
    """``node`` and everything under it, in source order."""
    yield node
    for child in node.children:
        yield from walk(child)


def line(node: Node) -> int:
    return node.start_point[0] + 1


def source(node: Node) -> str:
    return (node.text or b"").decode()


def parse_errors(tree: Tree) -> list[str]:
    """Where the grammar could not read the script: unexpected text or a missing token."""
    return [
        f"line {line(n)}: {'missing' if n.is_missing else 'cannot parse'} {source(n)[:40]!r}"
        for n in walk(tree.root_node)
        if n.is_error or n.is_missing
    ]


# --- Windows PowerShell 5.1 --------------------------------------------------------------


def non_ascii(text: str) -> list[str]:
    """Windows PowerShell 5.1 reads a script without a byte order mark as the machine's ANSI
    code page: only ASCII means the same everywhere."""
    return [
        f"line {number}: {char!r} (U+{ord(char):04X}) is not ASCII"
        for number, text_line in enumerate(text.splitlines(), 1)
        for char in text_line
        if ord(char) > 127
    ]


def code_only(tree: Tree) -> str:
    """The script with comments, string text and variable names blanked out, and the ``?``
    alias of Where-Object: what is left is operators, keywords and names."""
    code = bytearray(tree.root_node.text or b"")
    blank: list[tuple[int, int]] = []
    for node in walk(tree.root_node):
        if node.type in ("comment", "variable", *SINGLE_QUOTED) or (
            node.type == "command_name" and source(node) == "?"
        ):
            blank.append((node.start_byte, node.end_byte))
        elif node.type in EXPANDABLE:  # its $( ) sub-expressions are code
            start = node.start_byte
            for part in node.children:
                blank.append((start, part.start_byte))
                start = part.end_byte
            blank.append((start, node.end_byte))
    for start, end in blank:
        code[start:end] = b" " * (end - start)
    return code.decode()


# PowerShell 7 syntax the 5.1 grammar has no place for, found in the script's code.
PS7_TEXT = {
    "?? or ??= (null-coalescing)": re.compile(r"\?\?"),
    "?. or ?[ (null-conditional)": re.compile(r"\?[.\[]"),
    "a ? b : c (ternary)": re.compile(r"(?<!\?)\?(?![?.\[])"),
    "clean { } block (PowerShell 7.3)": re.compile(r"(?i)(?<![\w-])clean\s*\{"),
}
# PowerShell 7 parameters of cmdlets that Windows PowerShell 5.1 has.
PS7_PARAMETERS = {("foreach-object", "parallel"), ("convertfrom-json", "ashashtable")}


def powershell_7_syntax(tree: Tree) -> list[str]:
    """What Windows PowerShell 5.1 cannot run: found on the tree where the grammar knows it
    (``&&``/``||`` pipeline chains, parameters added in 7), in the code's text where not."""
    found = [
        f"line {line(n)}: {source(n).strip()[:2]} (pipeline chain)"
        for n in walk(tree.root_node)
        if n.type == "pipeline_chain_tail"
    ]
    found += [
        f"line {call.line}: {call.name} -{parameter}"
        for call in calls(tree)
        for parameter in call.parameters
        if (call.name.lower(), parameter.lower()) in PS7_PARAMETERS
    ]
    code = code_only(tree)
    found += [
        f"line {code.count(chr(10), 0, match.start()) + 1}: {form}"
        for form, pattern in PS7_TEXT.items()
        for match in pattern.finditer(code)
    ]
    return found


# --- commands and their documented parameter sets ----------------------------------------


@dataclass(frozen=True)
class Call:
    name: str
    parameters: tuple[str, ...]  # the named ones, without their dash
    line: int


def command_call(node: Node) -> Call:
    name = next((c for c in node.children if c.type == "command_name"), node.children[0])
    elements = [c for c in node.children if c.type == "command_elements"]
    parameters = tuple(
        source(p).lstrip("-").split(":")[0]
        for e in elements
        for p in e.children
        if p.type == "command_parameter"
    )
    return Call(source(name), parameters, line(node))


def calls(tree: Tree) -> list[Call]:
    """Every command the script calls, in source order (functions' bodies included); a
    script block invoked in place (``. { }``, ``& { }``) is not a command of its own."""
    return [
        command_call(n)
        for n in walk(tree.root_node)
        if n.type == "command" and not any(c.type == "command_name_expr" for c in n.children)
    ]


def functions(tree: Tree) -> dict[str, Node]:
    """The script's own functions by name (lower case: PowerShell ignores case)."""
    return {
        source(name).lower(): node
        for node in walk(tree.root_node)
        if node.type == "function_statement"
        for name in node.children
        if name.type == "function_name"
    }


def declared_parameters(function: Node, common: set[str]) -> set[str]:
    """A function's parameters, and the common parameters when it is an advanced function
    (``[CmdletBinding()]`` or a ``[Parameter()]`` attribute)."""
    declared = {
        source(v).lstrip("$").lower()
        for p in walk(function)
        if p.type == "script_parameter"
        for v in p.children
        if v.type == "variable"
    }
    advanced = any(
        n.type == "attribute_name" and source(n).lower() in ("cmdletbinding", "parameter")
        for n in walk(function)
    )
    return declared | common if advanced else declared


def cmdlet_table() -> dict[str, Any]:
    table: dict[str, Any] = json.loads(CMDLETS_FILE.read_text())
    return table


def parameter_problems(tree: Tree, table: dict[str, Any]) -> list[str]:
    """Every call of a command against its documented parameter sets: the command is the
    script's own function or in the table; each named parameter is spelt in full and
    documented; the named parameters together fit at least one parameter set."""
    cmdlets = {name.lower(): spec for name, spec in table["cmdlets"].items()}
    common = {p.lower() for p in table["common_parameters"]["parameters"]}
    own = functions(tree)
    problems = []
    for call in calls(tree):
        named = {p.lower(): p for p in call.parameters}
        where = f"line {call.line}: {call.name}"
        if call.name.lower() in own:
            sets = [declared_parameters(own[call.name.lower()], common)]
        elif call.name.lower() in cmdlets:
            documented = cmdlets[call.name.lower()]["parameter_sets"].values()
            sets = [{p.lower() for p in params} | common for params in documented]
        else:
            problems.append(f"{where} is not in {CMDLETS_FILE.name}: add it from its docs")
            continue
        unknown = [named[p] for p in sorted(named.keys() - set.union(*sets))]
        if unknown:
            problems.append(f"{where}: no parameter {', '.join('-' + p for p in unknown)}")
        elif not any(named.keys() <= s for s in sets):
            together = " ".join(f"-{named[p]}" for p in sorted(named))
            problems.append(f"{where}: no parameter set has {together} together")
    return problems


# --- the document's parameters -----------------------------------------------------------


def placeholder_problems(tree: Tree, parameters: dict[str, Any]) -> list[str]:
    """Every ``{{ Name }}`` is a declared parameter and the whole text of a single-quoted
    string's part, so that a value can only end the string with a quote of its own."""
    text = source(tree.root_node)
    problems = []
    for match in PLACEHOLDER.finditer(text):
        start = len(text[: match.start()].encode())
        node = tree.root_node.descendant_for_byte_range(start, start + len(match[0].encode()))
        where = f"line {text.count(chr(10), 0, match.start()) + 1}: {match[0]}"
        if match[1] not in parameters:
            problems.append(f"{where} is not a parameter of the document")
        if node is None or node.type not in SINGLE_QUOTED:
            problems.append(f"{where} is not inside a single-quoted string")
    return problems


def can_contain(pattern: str, char: str) -> bool:
    """Whether any string the regular expression matches can contain ``char``: true if any
    of its character atoms accepts it. Raises ValueError on a construct it cannot judge."""
    return _atoms_accept(sre_parse.parse(pattern), char)


CATEGORIES = {
    sre_constants.CATEGORY_DIGIT: r"\d",
    sre_constants.CATEGORY_NOT_DIGIT: r"\D",
    sre_constants.CATEGORY_SPACE: r"\s",
    sre_constants.CATEGORY_NOT_SPACE: r"\S",
    sre_constants.CATEGORY_WORD: r"\w",
    sre_constants.CATEGORY_NOT_WORD: r"\W",
}


def _atoms_accept(items: Any, char: str) -> bool:
    c = sre_constants
    accepts = False
    for op, arg in items:
        if op is c.LITERAL:
            accepts |= chr(arg) == char
        elif op is c.NOT_LITERAL or op is c.ANY:
            accepts |= op is c.ANY or chr(arg) != char
        elif op is c.IN:
            negated = bool(arg) and arg[0][0] is c.NEGATE
            hit = any(_class_accepts(o, a, char) for o, a in arg if o is not c.NEGATE)
            accepts |= hit != negated
        elif op is c.SUBPATTERN:
            accepts |= _atoms_accept(arg[-1], char)
        elif op in (c.MAX_REPEAT, c.MIN_REPEAT):
            accepts |= _atoms_accept(arg[2], char)
        elif op is c.BRANCH:
            accepts |= any(_atoms_accept(branch, char) for branch in arg[1])
        elif op is not c.AT:
            raise ValueError(f"cannot judge {op} in a pattern")
    return accepts


def _class_accepts(op: Any, arg: Any, char: str) -> bool:
    c = sre_constants
    if op is c.LITERAL:
        return chr(arg) == char
    if op is c.RANGE:
        return bool(arg[0] <= ord(char) <= arg[1])
    if op is c.CATEGORY and arg in CATEGORIES:
        return re.fullmatch(CATEGORIES[arg], char) is not None
    raise ValueError(f"cannot judge {op} {arg} in a character class")


def quote_problems(parameters: dict[str, Any]) -> list[str]:
    """A parameter whose accepted values could carry a single quote (or that accepts any
    text) would let a value end the script's string and run as code."""
    problems = []
    for name, spec in parameters.items():
        values = [*spec.get("allowedValues", []), spec.get("default", "")]
        quoted = [v for v in values if any(q in v for q in SINGLE_QUOTES)]
        if quoted:
            problems.append(f"{name}: {quoted[0]!r} contains a quote")
        pattern = spec.get("allowedPattern")
        if pattern is None and "allowedValues" not in spec:
            problems.append(f"{name}: accepts any text (no allowedPattern or allowedValues)")
        elif pattern is not None and any(can_contain(pattern, q) for q in SINGLE_QUOTES):
            problems.append(f"{name}: allowedPattern {pattern} accepts a quote")
    return problems


# --- order on the Offline path -----------------------------------------------------------


@dataclass(frozen=True)
class Step:
    """A command call or a throw, as the Offline path reaches it."""

    name: str  # the command, or "throw"
    parameters: frozenset[str]  # lower case
    line: int
    within: tuple[str, ...] = ()  # the script's functions it runs in, outermost first

    def __str__(self) -> str:
        inside = "".join(f" in {f}" for f in reversed(self.within))
        return f"{self.name} (line {self.line}{inside})"


def action_variable(text: str) -> str:
    """The variable the script keeps the document's Action in."""
    found = re.search(r"(\$\w+)\s*=\s*'\{\{\s*Action\s*\}\}'", text)
    if found is None:
        raise ValueError("the script never assigns '{{ Action }}' to a variable")
    return found[1].lower()


def path_steps(tree: Tree, action: str) -> list[Step]:
    """What the script does, in program order, when the document's Action is ``action``:
    ``if``/``switch`` on the action variable take only the branches that action takes (any
    other condition: every branch, in order); a call of the script's own function runs
    its body there; loop bodies and script blocks passed to commands run twice, so that a
    second pass after a first pass's steps is seen (a block invoked in place, ``. { }`` or
    ``& { }``, runs once)."""
    walker = _PathWalker(action_variable(source(tree.root_node)), action, functions(tree))
    return list(walker.steps(tree.root_node, ()))


@dataclass
class _PathWalker:
    variable: str
    action: str
    functions: dict[str, Node]

    def steps(self, node: Node, within: tuple[str, ...]) -> Iterator[Step]:
        kind = node.type
        if kind == "function_statement":
            return  # a definition runs nothing
        if kind == "if_statement":
            yield from self._if(node, within)
        elif kind == "switch_statement":
            yield from self._switch(node, within)
        elif (
            kind == "script_block_expression"
            and node.parent is not None
            and node.parent.type == "command_name_expr"
        ):
            yield from self._children(node, within)  # invoked in place (". { }", "& { }"): once
        elif kind in (*LOOPS, "script_block_expression"):
            for _ in range(2):
                yield from self._children(node, within)
        elif kind == "command":
            yield from self._children(node, within)  # its arguments run first
            call = command_call(node)
            yield Step(call.name, frozenset(p.lower() for p in call.parameters), call.line, within)
            body = self.functions.get(call.name.lower())
            if body is not None and call.name.lower() not in map(str.lower, within):
                yield from self._children(body, (*within, call.name))
        elif kind == "flow_control_statement" and node.children[0].type == "throw":
            yield from self._children(node, within)
            if not inside(node, "catch_clause"):  # a rethrow reports a failure, not a refusal
                yield Step("throw", frozenset(), line(node), within)
        else:
            yield from self._children(node, within)

    def _children(self, node: Node, within: tuple[str, ...]) -> Iterator[Step]:
        for child in node.children:
            yield from self.steps(child, within)

    def _taken(self, condition: Node) -> bool | None:
        """Whether a condition on the action variable holds for this action; None when the
        condition is about something else."""
        found = re.fullmatch(
            rf"\s*{re.escape(self.variable)}\s+-(eq|ne|in|notin)\s+(.*)", source(condition), re.I
        )
        if found is None:
            return None
        named = self.action in re.findall(r"'(\w+)'", found[2])
        return named != (found[1].lower() in ("ne", "notin"))

    def _if(self, node: Node, within: tuple[str, ...]) -> Iterator[Step]:
        condition = next(c for c in node.children if c.type == "pipeline")
        taken = self._taken(condition)
        for child in node.children:
            if taken is None or (child.type == "statement_block") == taken:
                yield from self.steps(child, within)

    def _switch(self, node: Node, within: tuple[str, ...]) -> Iterator[Step]:
        condition = next(c for c in node.children if c.type == "switch_condition")
        clauses = [
            clause
            for body in node.children
            if body.type == "switch_body"
            for group in body.children
            if group.type == "switch_clauses"
            for clause in group.children
            if clause.type == "switch_clause"
        ]
        if source(condition).strip("() ").lower() != self.variable:
            for clause in clauses:
                yield from self.steps(clause, within)
            return
        labels = [source(c.children[0]).strip("'\"").lower() for c in clauses]
        chosen = self.action.lower() if self.action.lower() in labels else "default"
        for clause, label in zip(clauses, labels, strict=True):
            if label == chosen:
                yield from self.steps(clause, within)


def inside(node: Node, kind: str) -> bool:
    parent = node.parent
    while parent is not None and parent.type != kind:
        parent = parent.parent
    return parent is not None


DISK_LOOKUPS = ("get-disk", "get-physicaldisk")
# With $ErrorActionPreference = 'Stop', Write-Error ends the script as throw does.
REFUSALS = ("throw", "write-error")


def is_lookup(step: Step) -> bool:
    """Finding a disk: Get-Disk or Get-PhysicalDisk, except a re-read of a disk already
    found, which names it by its number."""
    return step.name.lower() in DISK_LOOKUPS and "number" not in step.parameters


def order_problems(tree: Tree, action: str = "Offline") -> list[str]:
    """Every disk lookup and every refusal (``throw`` outside a ``catch``, Write-Error) of
    the path before its first Stop-Service: after that, the path changes things and never
    refuses."""
    steps = path_steps(tree, action)
    stops = [i for i, step in enumerate(steps) if step.name.lower() == "stop-service"]
    if not stops:
        return []
    first = stops[0]
    late = dict.fromkeys(
        str(s) for s in steps[first:] if is_lookup(s) or s.name.lower() in REFUSALS
    )
    return [f"{s} comes after the first {steps[first]}" for s in late]

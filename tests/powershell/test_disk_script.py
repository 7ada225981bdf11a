"""The disk document's PowerShell, checked without Windows: it parses, it is Windows
PowerShell 5.1, its cmdlet calls fit their documented parameter sets, its parameters cannot
break out of their strings, and the Offline path looks at every disk before it stops a
service. Each check also runs on broken copies of the script, which it must catch."""

from __future__ import annotations

import re
from typing import Any

import pytest

from tests.powershell import script
from vss_restore.windows_disks import document_content

PARAMETERS: dict[str, Any] = document_content()["parameters"]

# --- the script's text: one check each, run on the script and on broken copies ------------


def parses(text: str) -> list[str]:
    return script.parse_errors(script.parse(text))


def is_windows_powershell_5(text: str) -> list[str]:
    return script.non_ascii(text) + script.powershell_7_syntax(script.parse(text))


def calls_cmdlets_as_documented(text: str) -> list[str]:
    return script.parameter_problems(script.parse(text), script.cmdlet_table())


def single_quotes_declared_parameters(text: str) -> list[str]:
    return script.placeholder_problems(script.parse(text), PARAMETERS)


# A disk's OfflineReason or PartitionStyle compared with text, or a partition's Type (text):
# Windows localizes the names; the script compares numbers and GUIDs.
DISPLAY_STRING_COMPARISON = re.compile(
    r"(?i)(OfflineReason|PartitionStyle)\W{0,3}\s*-[ci]?(eq|ne|match|notmatch|like|notlike|in|notin)"
    r"\s*@?\(?\s*['\"]|\.Type\b"
)


def compares_enums_by_value(text: str) -> list[str]:
    code = bytearray(text.encode())
    for node in script.walk(script.parse(text).root_node):
        if node.type == "comment":
            code[node.start_byte : node.end_byte] = b" " * (node.end_byte - node.start_byte)
    return [
        f"line {number}: {found.group(0)}"
        for number, text_line in enumerate(code.decode().splitlines(), 1)
        for found in DISPLAY_STRING_COMPARISON.finditer(text_line)
    ]


SIMPLE = "function Simple([string]$Name) { $Name }\n"  # not an advanced function
CHECKS = [
    parses,
    is_windows_powershell_5,
    calls_cmdlets_as_documented,
    single_quotes_declared_parameters,
    compares_enums_by_value,
]
# (check, a line added at the script's end, what it breaks)
BROKEN = [
    (parses, "function Unbalanced {", "unbalanced brace"),
    (parses, "$text = 'unterminated", "unterminated string"),
    (parses, 'Write-Output "unterminated', "unterminated double-quoted string"),
    (parses, "Write-Output 1)", "stray parenthesis"),
    (parses, "if ($true) { 1 } else", "else without a block"),
    (is_windows_powershell_5, "# it\u2019s a comment", "right single quote"),
    (is_windows_powershell_5, "Write-Output \u201cquoted\u201d", "smart double quotes"),
    (is_windows_powershell_5, "Write-Output 'a \u2013 b'", "en dash"),
    (is_windows_powershell_5, "\ufeffWrite-Output 1", "byte order mark"),
    (is_windows_powershell_5, "$x = $services ?? @()", "null-coalescing"),
    (is_windows_powershell_5, "$x ??= 1", "null-coalescing assignment"),
    (is_windows_powershell_5, "$x = $result?.Disks", "null-conditional member"),
    (is_windows_powershell_5, "$x = ${result}?[0]", "null-conditional index"),
    (is_windows_powershell_5, "$x = $action -eq 'Online' ? 1 : 2", "ternary"),
    (is_windows_powershell_5, 'Write-Output "$($x ?? 1)"', "?? in a string's $( )"),
    (is_windows_powershell_5, "Get-Disk && Write-Output 1", "pipeline chain &&"),
    (is_windows_powershell_5, "Get-Disk || Write-Output 1", "pipeline chain ||"),
    (is_windows_powershell_5, "$volumeIds | ForEach-Object -Parallel { $_ }", "-Parallel"),
    (is_windows_powershell_5, "$x = '{}' | ConvertFrom-Json -AsHashtable", "-AsHashtable"),
    (is_windows_powershell_5, "function F { process { 1 } clean { 2 } }", "clean block"),
    (is_windows_powershell_5, "function F { Clean { 2 } }", "clean block alone"),
    (calls_cmdlets_as_documented, "Set-Disk -Number 1 -IsOfline $true", "misspelt parameter"),
    (calls_cmdlets_as_documented, "Get-Disk -Num 1", "abbreviated parameter"),
    (calls_cmdlets_as_documented, "Stop-Service -Name x -Force -NoWiat", "misspelt switch"),
    (calls_cmdlets_as_documented, "Get-Dsik", "misspelt cmdlet"),
    (calls_cmdlets_as_documented, "Format-Volume -DriveLetter D", "cmdlet not in the table"),
    (
        calls_cmdlets_as_documented,
        "Set-Disk -Number 1 -IsOffline $true -IsReadOnly $true",
        "IsOffline and IsReadOnly are in different sets",
    ),
    (calls_cmdlets_as_documented, "Get-Service -Name x -DisplayName y", "Name with DisplayName"),
    (calls_cmdlets_as_documented, "Start-Sleep -Seconds 1 -Milliseconds 5", "two units"),
    (calls_cmdlets_as_documented, "Get-Disk -ProgressAction Stop", "PowerShell 7.4 common"),
    (calls_cmdlets_as_documented, SIMPLE + "Simple -Volume vol-1", "not the function's"),
    (calls_cmdlets_as_documented, SIMPLE + "Simple x -ErrorAction Stop", "not advanced"),
    (single_quotes_declared_parameters, "$x = '{{ Undeclared }}'", "undeclared"),
    (single_quotes_declared_parameters, '$x = "{{ Action }}"', "double-quoted"),
    (single_quotes_declared_parameters, "$x = {{ Action }}", "bare"),
    (
        single_quotes_declared_parameters,
        "$x = @('{{Services}}', \"{{ VolumeIds }}\")",
        "one of two",
    ),
    (single_quotes_declared_parameters, "$x = '{{ ssm:/vss-restore/x }}'", "Parameter Store"),
    (compares_enums_by_value, "$x = \"$($d.OfflineReason)\" -match 'Collision'", "reason text"),
    (compares_enums_by_value, "$x = $d.PartitionStyle -eq 'GPT'", "partition style text"),
    (compares_enums_by_value, "$x = $p.Type -notin @('Reserved', 'System')", "partition type"),
]
# (check, a line added at the script's end that it must accept, what it shows)
SOUND = [
    (is_windows_powershell_5, "# is it? ?? ?. ?[ a ? b : c", "? in a comment"),
    (is_windows_powershell_5, "$x = 'a ?? b ? c : d'", "? in a single-quoted string"),
    (is_windows_powershell_5, '$x = "a ?? b"', "? in a double-quoted string"),
    (is_windows_powershell_5, "$ok = $?", "the last command's status"),
    (is_windows_powershell_5, "Get-Disk | ? { $_.IsOffline }", "the Where-Object alias"),
    (calls_cmdlets_as_documented, "Set-Disk -Number 1 -IsReadOnly $true -Guid x", "one set"),
    (calls_cmdlets_as_documented, "set-disk -number 1 -isoffline $false", "any case"),
    (calls_cmdlets_as_documented, "Get-Partition -DiskNumber 1 -ErrorAction Ignore", "common"),
    (calls_cmdlets_as_documented, "Stop-Service -Name:x -Force -WhatIf", "-Name:value"),
    (compares_enums_by_value, "$x = (Get-Raw $d 'OfflineReason') -eq 4", "reason number"),
    (compares_enums_by_value, "# $d.PartitionStyle -eq 'GPT' in a comment", "a comment"),
    (
        calls_cmdlets_as_documented,
        "function F { [CmdletBinding()] param([string]$Name)\n}\nF -Name x -ErrorAction Stop",
        "an advanced function's common parameters",
    ),
]


def broken(line: str) -> str:
    """The real script with one more line at its end."""
    return script.script_text() + "\n" + line + "\n"


def cases(table: list[tuple[Any, str, str]]) -> list[Any]:
    return [
        pytest.param(check, line, id=f"{check.__name__}: {what}") for check, line, what in table
    ]


@pytest.mark.parametrize("check", CHECKS, ids=lambda check: check.__name__)
def test_the_script(check: Any) -> None:
    assert check(script.script_text()) == []


@pytest.mark.parametrize(("check", "line"), cases(BROKEN))
def test_a_broken_copy_is_caught(check: Any, line: str) -> None:
    assert check(broken(line))


@pytest.mark.parametrize(("check", "line"), cases(SOUND))
def test_a_sound_copy_passes(check: Any, line: str) -> None:
    assert check(broken(line)) == []


def test_each_cmdlet_names_the_page_it_was_read_from() -> None:
    table = script.cmdlet_table()
    for spec in [table["common_parameters"], *table["cmdlets"].values()]:
        assert spec["docs"].startswith("https://learn.microsoft.com/")
        assert spec["from"].startswith("MicrosoftDocs/")


# --- the document's parameters cannot carry a quote ----------------------------------------


def test_no_value_a_parameter_accepts_can_contain_a_quote() -> None:
    assert script.quote_problems(PARAMETERS) == []


@pytest.mark.parametrize(
    "spec",
    [
        pytest.param({"type": "String"}, id="free text"),
        pytest.param({"type": "String", "allowedPattern": "^.*$"}, id="any character"),
        pytest.param({"type": "String", "allowedPattern": r"^[^,]+$"}, id="negated class"),
        pytest.param({"type": "String", "allowedPattern": r"^\W+$"}, id="non-word class"),
        pytest.param({"type": "String", "allowedPattern": "^[ -~]+$"}, id="printable range"),
        pytest.param({"type": "String", "allowedPattern": "^(a|b\u2019)$"}, id="typographic"),
        pytest.param({"type": "String", "allowedValues": ["Offline", "it's"]}, id="value"),
        pytest.param({"type": "String", "allowedPattern": "^a$", "default": "'"}, id="default"),
    ],
)
def test_a_parameter_that_accepts_a_quote_is_caught(spec: dict[str, Any]) -> None:
    assert script.quote_problems({"Broken": spec})


def test_a_pattern_the_proof_cannot_judge_counts_as_accepting() -> None:
    with pytest.raises(ValueError, match="cannot judge"):
        script.can_contain(r"^(?=a)a$", "'")


# --- the Offline path: everything checked before anything is stopped ----------------------

FIND = """\
$action = '{{ Action }}'
$volumeIds = @('{{ VolumeIds }}' -split ',')
$services = @('{{ Services }}' -split ',')
function Find-VolumeDisk([string]$VolumeId) {
    $found = @(Get-Disk | Where-Object { $_.SerialNumber -eq $VolumeId })
    if ($found.Count -ne 1) { throw "no single disk has the serial number $VolumeId" }
    return $found[0]
}
"""
LOOK = "$disks = @(foreach ($id in $volumeIds) { Find-VolumeDisk $id })\n"
STOP = (
    "if ($action -eq 'Offline') {\n"
    "    foreach ($name in $services) { Stop-Service -Name $name -Force }\n}\n"
)
CHANGE = """\
foreach ($disk in $disks) {
    switch ($action) {
        'Offline' { Set-Disk -Number $disk.Number -IsOffline $true }
        default { throw "unknown action $action" }
    }
    $now = Get-Disk -Number $disk.Number
}
"""


def test_the_script_looks_up_and_checks_every_disk_before_it_stops_a_service() -> None:
    """Fails on a script that stops services before it looks for the disks (issue 25)."""
    problems = script.order_problems(script.parse(script.script_text()))
    assert problems == [], "\n".join(problems)


def test_a_script_that_looks_before_it_stops_passes() -> None:
    assert script.order_problems(script.parse(FIND + LOOK + STOP + CHANGE)) == []


@pytest.mark.parametrize("operator", [".", "&"])
def test_a_block_invoked_in_place_runs_once_but_one_passed_to_a_command_may_run_again(
    operator: str,
) -> None:
    # GIVEN the sound order inside a block the script invokes itself, and inside one given
    # to ForEach-Object (which runs it once per input)
    body = "{\n" + LOOK + STOP + CHANGE + "}\n"
    in_place = FIND + f"$null = {operator} " + body
    per_input = FIND + "$volumeIds | ForEach-Object " + body

    # WHEN / THEN the first keeps its order; the second's next pass looks after a stop
    assert script.order_problems(script.parse(in_place)) == []
    assert script.order_problems(script.parse(per_input))


@pytest.mark.parametrize(
    "text",
    [
        pytest.param(FIND + STOP + LOOK + CHANGE, id="services stopped before the lookup"),
        pytest.param(
            FIND + STOP.replace("-Force }", "-Force; $d = Find-VolumeDisk $name }") + CHANGE,
            id="a lookup in the loop that stops",
        ),
        pytest.param(
            FIND + "foreach ($id in $volumeIds) { Find-VolumeDisk $id; Stop-Service -Name x }",
            id="stop and look by turns",
        ),
        pytest.param(
            FIND + LOOK + STOP + "if ($disks.Count -gt 2) { throw 'refused' }\n" + CHANGE,
            id="a refusal after the stop",
        ),
        pytest.param(
            FIND + LOOK + STOP + "if (-not $disks) { Write-Error 'nothing to do' }\n" + CHANGE,
            id="a Write-Error after the stop",
        ),
        pytest.param(
            FIND + LOOK + STOP + "$all = Get-PhysicalDisk\n" + CHANGE, id="an inventory after"
        ),
        pytest.param(
            FIND + LOOK + STOP + CHANGE.replace("Get-Disk -Number", "Get-Disk -UniqueId"),
            id="a lookup by another identity after",
        ),
        pytest.param(
            FIND + LOOK + "switch ($action) { 'Offline' { Stop-Service -Name x } }\n" + LOOK,
            id="stopped in a switch clause",
        ),
    ],
)
def test_a_lookup_or_refusal_after_a_stop_is_caught(text: str) -> None:
    assert script.order_problems(script.parse(text))


@pytest.mark.parametrize(
    "text",
    [
        pytest.param(
            FIND + STOP.replace("'Offline'", "'Online'") + LOOK + CHANGE,
            id="a stop on another action's path",
        ),
        pytest.param(
            FIND + LOOK + "try {\n" + STOP + "} catch { Start-Service -Name $services; throw }\n",
            id="a rethrow after a failed stop",
        ),
    ],
)
def test_what_is_not_a_late_lookup_or_refusal_passes(text: str) -> None:
    assert script.order_problems(script.parse(text)) == []

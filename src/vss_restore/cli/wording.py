"""The state machine's words as the command line's: ``InitializationRate`` is
``--initialization-rate`` to someone who typed the flag.

A request the CLI builds is checked by the same model the workflow uses; when it refuses a
field, the person at the keyboard should read the flag they gave, not the JSON name.
"""

from __future__ import annotations

import re

from vss_restore.errors import InvalidRequest

# Request fields (restore, drill, mount and fleet requests) → the flag that sets each.
FIELD_FLAGS = {
    "InstanceId": "--instance-id",
    "SnapshotSetId": "--snapshot-set-id",
    "RestorePointInTime": "--point-in-time",
    "Devices": "--devices",
    "ExcludeBootVolume": "--exclude-boot-volume",
    "PowerOnAfterRestore": "--no-power-on",
    "DeleteReplacedVolumes": "--delete-replaced-volumes",
    "InitializationRate": "--initialization-rate",
    "WaitForInitialization": "--wait-for-initialization",
    "StopServices": "--stop-service",
    "ValidationDocument": "--validation-document",
    "ValidationParameters": "--validation-parameter",
    "SubnetId": "--subnet-id",
    "SecurityGroupIds": "--security-group-id",
    "InstanceType": "--instance-type",
    "KeepClone": "--keep-clone",
    "DryRun": "--dry-run",
    "TargetInstanceId": "--target-instance-id",
    "ExpiresInHours": "--expires-in-hours",
    "Instances": "--instance-id",
    "TagFilter": "--tag",
    "Waves": "--wave",
    "MaxConcurrency": "--max-concurrency",
    "ToleratedFailurePercentage": "--tolerate-failures",
}
# How the modes are chosen on the command line.
MODE_WORDS = {
    '"Online"': "with --online",
    '"Clone"': "with `drill`",
    '"Mount"': "with `mount`",
    '"InPlace"': "with `restore`",
}
# Phrases about modes that read differently on the command line.
MODE_PHRASES = {'with Mode "InPlace"': "without --online", 'Mode "Online"': "--online"}
_FIELD = re.compile(r"\b(" + "|".join(FIELD_FLAGS) + r")\b(?:\.(\d+))?")
_MODE_RULE = re.compile(r"when Mode is ((?:\"\w+\"(?: or )?)+)")


def in_cli_words(text: str) -> str:
    """``text`` with request field names replaced by the flags that set them."""

    def modes(match: re.Match[str]) -> str:
        named = re.findall(r"\"\w+\"", match.group(1))
        return " or ".join(MODE_WORDS.get(m, m) for m in named)

    def flag(match: re.Match[str]) -> str:
        item = match.group(2)  # a list's member: Devices.0 is the first --devices value
        return FIELD_FLAGS[match.group(1)] + (f" (value {int(item) + 1})" if item else "")

    text = _MODE_RULE.sub(modes, text)
    for phrase, words in MODE_PHRASES.items():
        text = text.replace(phrase, words)
    return _FIELD.sub(flag, text)


def refused_in_cli_words(failure: InvalidRequest) -> str:
    """The refusal as the CLI says it: ``--initialization-rate: must be ...``; a rule about
    the whole request (``$``) names no field."""
    reason = in_cli_words(failure.reason)
    if failure.field == "$":
        return reason
    return f"{in_cli_words(failure.field)}: {reason}"

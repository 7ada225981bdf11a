"""The tasks' settings: each variable's bad values named at once, good values and defaults."""

from __future__ import annotations

import os
import subprocess
import sys

import pytest

from vss_restore.local import LocalEngine
from vss_restore.settings import (
    CLONE_EXPOSED_SUBNETS_ENV,
    CLONE_OPEN_GROUPS_ENV,
    DEFAULT_DISKS_DOCUMENT,
    DISKS_DOCUMENT_ENV,
    DRILL_INSTANCE_TYPES_ENV,
    MAX_WAIT_IN_TASK_SECONDS,
    OPT_IN_TAG_KEY_ENV,
    OPT_IN_TAG_VALUE_ENV,
    RECOVERY_HOST_TAG_KEY_ENV,
    RECOVERY_HOST_TAG_VALUE_ENV,
    VALIDATION_DOCUMENTS_ENV,
    WAIT_IN_TASK_ENV,
    InvalidSettings,
    Settings,
    reload_settings,
    settings,
)

ALL_NAMES = (
    OPT_IN_TAG_KEY_ENV,
    OPT_IN_TAG_VALUE_ENV,
    DISKS_DOCUMENT_ENV,
    WAIT_IN_TASK_ENV,
    VALIDATION_DOCUMENTS_ENV,
    CLONE_EXPOSED_SUBNETS_ENV,
    CLONE_OPEN_GROUPS_ENV,
    RECOVERY_HOST_TAG_KEY_ENV,
    RECOVERY_HOST_TAG_VALUE_ENV,
    DRILL_INSTANCE_TYPES_ENV,
)


def refusal(environ: dict[str, str]) -> str:
    with pytest.raises(InvalidSettings) as refused:
        Settings.from_environ(environ)
    return str(refused.value)


@pytest.mark.parametrize(
    ("name", "value", "why"),
    [
        (WAIT_IN_TASK_ENV, "ten", "not a whole number of seconds"),
        (WAIT_IN_TASK_ENV, "-3", "not a whole number of seconds"),
        (WAIT_IN_TASK_ENV, "1.5", "not a whole number of seconds"),
        (WAIT_IN_TASK_ENV, "", "not a whole number of seconds"),
        (WAIT_IN_TASK_ENV, " 600", "not a whole number of seconds"),
        (WAIT_IN_TASK_ENV, "841", f"more than {MAX_WAIT_IN_TASK_SECONDS} seconds"),
        (OPT_IN_TAG_KEY_ENV, "", "is empty"),
        (OPT_IN_TAG_KEY_ENV, "vss-restore:enabled ", "spaces at an end"),
        (OPT_IN_TAG_KEY_ENV, "aws:backup", "reserves"),
        (OPT_IN_TAG_KEY_ENV, "k" * 129, "128 characters"),
        (DISKS_DOCUMENT_ENV, "", "not an SSM document name"),
        (DISKS_DOCUMENT_ENV, "my document", "not an SSM document name"),
        (DISKS_DOCUMENT_ENV, "ab", "not an SSM document name"),
        (VALIDATION_DOCUMENTS_ENV, "Ops-Check,,Ops-Other", "empty item between commas"),
        (VALIDATION_DOCUMENTS_ENV, "Ops-Check,my check", "'my check' is not an SSM document"),
        (CLONE_EXPOSED_SUBNETS_ENV, "subnet-1", "'subnet-1' is not a valid id"),
        (CLONE_OPEN_GROUPS_ENV, "sg-0d0d0d0d,subnet-0a0b0c0d", "'subnet-0a0b0c0d' is not a valid"),
        (RECOVERY_HOST_TAG_KEY_ENV, "", "is empty"),
        (RECOVERY_HOST_TAG_KEY_ENV, "aws:recovery", "reserves"),
        (DRILL_INSTANCE_TYPES_ENV, "t3.large,M5 Large", "'M5 Large' is not an EC2 instance type"),
        (DRILL_INSTANCE_TYPES_ENV, "t3.large,,m5.large", "empty item between commas"),
    ],
)
def test_settings_refuse_a_bad_value_naming_the_variable_when_read(
    name: str, value: str, why: str
) -> None:
    # GIVEN / WHEN an environment with one bad value
    message = refusal({name: value})

    # THEN the error names the variable, shows the value and says why
    assert message.startswith(f'{name}="{value}": ')
    assert why in message


def test_settings_error_reads_as_the_example_when_the_budget_is_a_word() -> None:
    assert refusal({WAIT_IN_TASK_ENV: "ten"}) == (
        'VSS_RESTORE_WAIT_IN_TASK_SECONDS="ten": not a whole number of seconds'
    )


def test_settings_refuse_an_opt_in_value_when_no_key_is_set() -> None:
    message = refusal({OPT_IN_TAG_VALUE_ENV: "yes"})
    assert message.startswith(f'{OPT_IN_TAG_VALUE_ENV}="yes": set without {OPT_IN_TAG_KEY_ENV}')


def test_settings_refuse_a_recovery_host_value_when_no_key_is_set() -> None:
    message = refusal({RECOVERY_HOST_TAG_VALUE_ENV: "yes"})
    assert message == (
        f'{RECOVERY_HOST_TAG_VALUE_ENV}="yes": set without {RECOVERY_HOST_TAG_KEY_ENV}, so no '
        "instance would be a recovery host"
    )


def test_settings_refuse_an_opt_in_value_longer_than_ec2_allows() -> None:
    message = refusal({OPT_IN_TAG_KEY_ENV: "k", OPT_IN_TAG_VALUE_ENV: "v" * 257})
    assert message.startswith(f"{OPT_IN_TAG_VALUE_ENV}=")
    assert "256 characters" in message


def test_settings_name_every_bad_variable_when_several_are_bad() -> None:
    message = refusal({WAIT_IN_TASK_ENV: "ten", DISKS_DOCUMENT_ENV: "a b"})
    assert [line.split("=", 1)[0] for line in message.splitlines()] == [
        DISKS_DOCUMENT_ENV,
        WAIT_IN_TASK_ENV,
    ]


def test_settings_keep_good_values_when_all_are_set() -> None:
    read = Settings.from_environ(
        {
            OPT_IN_TAG_KEY_ENV: "Backup:Restorable",
            OPT_IN_TAG_VALUE_ENV: "",
            DISKS_DOCUMENT_ENV: "vss-restore-WindowsDisks-1A2B3C4D5E6F",
            WAIT_IN_TASK_ENV: "600",
            VALIDATION_DOCUMENTS_ENV: " Ops-Check , arn:aws:ssm:us-east-1:123456789012:document/X1 ",
            CLONE_EXPOSED_SUBNETS_ENV: "subnet-0a0b0c0d0e0f01234",
            CLONE_OPEN_GROUPS_ENV: "",
            RECOVERY_HOST_TAG_KEY_ENV: "Role",
            RECOVERY_HOST_TAG_VALUE_ENV: "recovery",
            DRILL_INSTANCE_TYPES_ENV: "t3.large, m6i.xlarge",
            "UNRELATED": "ignored",
        }
    )
    assert read.opt_in_tag_key == "Backup:Restorable"
    assert read.opt_in_tag_value == ""
    assert read.disks_document == "vss-restore-WindowsDisks-1A2B3C4D5E6F"
    assert read.wait_in_task_seconds == 600
    # ... a list variable's items, without the spaces around them ("": none)
    assert read.validation_documents == (
        "Ops-Check",
        "arn:aws:ssm:us-east-1:123456789012:document/X1",
    )
    assert read.clone_exposed_subnet_ids == ("subnet-0a0b0c0d0e0f01234",)
    assert read.clone_open_security_group_ids == ()
    assert (read.recovery_host_tag_key, read.recovery_host_tag_value) == ("Role", "recovery")
    assert read.drill_instance_types == ("t3.large", "m6i.xlarge")


def test_settings_defaults_are_the_production_defaults_when_nothing_is_set() -> None:
    read = Settings.from_environ({})
    # No opt-in check; the tag value the stack's configuration uses unless told otherwise.
    assert (read.opt_in_tag_key, read.opt_in_tag_value) == (None, "true")
    # The document the local engine creates under the name the stack's used to have.
    assert read.disks_document == DEFAULT_DISKS_DOCUMENT == "vss-restore-windows-disks"
    # Functions that are not polling tasks check once and hand over to the Retry.
    assert read.wait_in_task_seconds == 0
    # The guardrails allow nothing beyond their rules; a mount goes only to its source.
    assert read.validation_documents == ()
    assert (read.clone_exposed_subnet_ids, read.clone_open_security_group_ids) == ((), ())
    assert (read.recovery_host_tag_key, read.recovery_host_tag_value) == (None, "true")
    assert read.drill_instance_types == ()  # a clone has its source's type


def test_settings_are_read_once_until_reloaded_when_the_environment_changes(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    # GIVEN settings read with a budget of 60 seconds
    monkeypatch.setenv(WAIT_IN_TASK_ENV, "60")
    assert reload_settings().wait_in_task_seconds == 60

    # WHEN the environment changes
    monkeypatch.setenv(WAIT_IN_TASK_ENV, "120")

    # THEN the process keeps what it read until it reloads
    assert settings().wait_in_task_seconds == 60
    assert reload_settings().wait_in_task_seconds == 120


def test_handler_module_import_fails_naming_the_variable_when_a_value_is_bad() -> None:
    # GIVEN a function's environment with a bad budget
    environ = {k: v for k, v in os.environ.items() if k not in ALL_NAMES}
    environ[WAIT_IN_TASK_ENV] = "ten"

    # WHEN Lambda imports a handler's module (its init)
    imported = subprocess.run(
        [sys.executable, "-c", "import vss_restore.functions.wait_instance_stopped"],
        env=environ,
        capture_output=True,
        text=True,
        check=False,
        timeout=60,
    )

    # THEN the init fails, naming the variable and why
    assert imported.returncode != 0
    assert "InvalidSettings" in imported.stderr
    assert 'VSS_RESTORE_WAIT_IN_TASK_SECONDS="ten": not a whole number of seconds' in (
        imported.stderr
    )


def test_local_engine_refuses_to_start_when_a_value_is_bad(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    # GIVEN a bad disk document name in the environment the engine runs its tasks in
    monkeypatch.setenv(DISKS_DOCUMENT_ENV, "no spaces allowed")

    # WHEN / THEN the engine fails to start, as a function's cold start would
    with pytest.raises(InvalidSettings, match=DISKS_DOCUMENT_ENV), LocalEngine():
        pass

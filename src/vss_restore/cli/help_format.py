"""Help that reads like the AWS CLI's: ``--instance-id ID``, never ``<str>`` or ``<bool>``.

typer shows each option's Python type (``<bool>`` after every flag, ``<list[str]>``,
``<int range> [x>=1]``). Here a flag shows nothing after its name, a valued option shows a
word for what it takes, and a number's range goes into its help in words.
"""

from __future__ import annotations

from typing import Any

from typer.core import TyperArgument, TyperOption

# What each valued option takes, where the option's last word does not say it.
METAVARS = {
    "--devices": "DEVICE",
    "--endpoint-url": "URL",
    "--html": "FILE",
    "--initialization-rate": "MIB/S",
    "--instance-type": "TYPE",
    "--max-concurrency": "N",
    "--max-items": "N",
    "--point-in-time": "TIME",
    "--profile": "NAME",
    "--stack-name": "NAME",
    "--stop-service": "NAME",
    "--tag": "KEY=VALUE",
    "--target-instance-id": "ID",
    "--tolerate-failures": "%",
    "--validation-document": "NAME",
    "--validation-parameter": "NAME=VALUE",
    "--wave": "ID,ID",
    "--expires-in-hours": "HOURS",
}


def _range_words(low: Any, high: Any) -> str:
    if low is not None and high is not None:
        return f"{low} to {high}"
    return f"at least {low}" if low is not None else f"at most {high}"


def tidy_option(option: TyperOption) -> None:
    """Give ``option`` a plain metavar, and its range (if any) in its help text."""
    if option.is_flag or option.count:
        option.metavar = ""
        return
    if option.type_descriptor.is_choice:
        return  # typer shows the choices themselves: json|table|text
    if option.metavar is None:
        long_name = next((o for o in option.opts if o.startswith("--")), option.opts[0])
        option.metavar = METAVARS.get(long_name, long_name.rsplit("-", 1)[-1].upper())
    low, high = getattr(option, "min", None), getattr(option, "max", None)
    if low is not None or high is not None:
        option.help = f"{option.help or ''} ({_range_words(low, high)}.)".strip()
        option._get_number_range_help_str = lambda: None  # type: ignore[method-assign]


def tidy_help(params: list[Any]) -> None:
    for param in params:
        if isinstance(param, TyperOption):
            tidy_option(param)
        elif isinstance(param, TyperArgument):  # its name (EXECUTION) says what it takes
            param.display_type_rich = lambda ctx: None  # type: ignore[method-assign]


def tidy_command(command: Any) -> None:
    """Tidy a command's options, ``--help`` included (click adds it when help is asked for)."""
    tidy_help(command.params)
    add_help = command.get_help_option

    def get_help_option(ctx: Any) -> Any:
        option = add_help(ctx)
        if isinstance(option, TyperOption):
            tidy_option(option)
        return option

    command.get_help_option = get_help_option

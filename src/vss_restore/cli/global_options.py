"""Global options (``--region``, ``--local``, ``--output`` ...) before or after the subcommand.

The AWS CLI takes its global options anywhere on the line (``aws ec2 describe-instances
--region eu-west-1``); click only takes a group's options before the subcommand. The group
below moves them there before parsing, so ``vss-restore sets --local`` and
``vss-restore --local sets`` are the same command.
"""

from __future__ import annotations

import logging
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from typing import Any

from typer._click.core import Context
from typer.core import TyperGroup, TyperOption

from vss_restore.cli.help_format import tidy_command
from vss_restore.cli.target import CurrentStderr

WIRE_LOGGER = "botocore"


def hoist_global_options(args: Sequence[str], params: Sequence[object]) -> list[str]:
    """``args`` with the group's options found after the subcommand moved before it.

    Everything after ``--`` stays where it is; a valued option takes its value with it
    (``--region eu-west-1`` or ``--region=eu-west-1``).
    """
    flags: set[str] = set()
    valued: set[str] = set()
    for param in params:
        if isinstance(param, TyperOption):
            names = param.opts + param.secondary_opts
            (flags if param.is_flag or param.count else valued).update(names)
    args = list(args)
    position = 0  # of the subcommand: the first word that is not an option or its value
    while position < len(args):
        word = args[position]
        if word == "--":
            return args
        if not word.startswith("-"):
            break
        position += 2 if word in valued else 1
    if position >= len(args):
        return args
    moved: list[str] = []
    kept: list[str] = []
    rest = args[position + 1 :]
    index = 0
    while index < len(rest):
        word = rest[index]
        if word == "--":
            kept.extend(rest[index:])
            break
        if word in flags or (word.partition("=")[0] in valued and "=" in word):
            moved.append(word)
        elif word in valued and index + 1 < len(rest):
            moved.extend(rest[index : index + 2])
            index += 1
        else:
            kept.append(word)
        index += 1
    return [*args[:position], *moved, args[position], *kept]


class GlobalOptionsAnywhere(TyperGroup):
    """A command group whose own options may also follow the subcommand, and whose help (its
    own and its commands') names what each option takes in words."""

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        tidy_command(self)
        for command in self.commands.values():
            tidy_command(command)

    def parse_args(self, ctx: Context, args: list[str]) -> list[str]:
        return super().parse_args(ctx, hoist_global_options(args, self.params))


@contextmanager
def wire_log_to_stderr() -> Iterator[None]:
    """``--debug``: botocore's log of every request and response, on stderr (standard output
    stays the command's result), as the AWS CLI's ``--debug`` shows it."""
    logger = logging.getLogger(WIRE_LOGGER)
    handler = logging.StreamHandler(CurrentStderr())
    handler.setFormatter(logging.Formatter("%(asctime)s %(name)s [%(levelname)s] %(message)s"))
    previous = logger.level
    logger.addHandler(handler)
    logger.setLevel(logging.DEBUG)
    try:
        yield
    finally:
        logger.removeHandler(handler)
        logger.setLevel(previous)

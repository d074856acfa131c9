"""The base of our manage.py commands: a bad argument is one line and exit status 2, changes are audited.

Argument types below turn text into values or say in one line what was wrong with it; a
service's refusal (a ValidationError: a duplicate user id, an expiry in the past) is a bad
argument too. Only a failure of the machine (the database gone) still shows a traceback.
"""

import argparse
import re
from datetime import UTC, datetime, timedelta
from decimal import Decimal, InvalidOperation
from typing import Any, NoReturn

from django.core.exceptions import ValidationError
from django.core.management.base import BaseCommand, CommandError, CommandParser
from django.utils import timezone

from core.audit import Actor, system_actor

BAD_ARGUMENTS = 2  # argparse's own exit status for a bad command line
_DURATION = re.compile(r"(\d+)\s*([dhm])")
_UNITS = {"d": "days", "h": "hours", "m": "minutes"}


class OneLineParser(CommandParser):
    """argparse, minus the usage block it prints before an error: the error line says all, --help the rest."""

    def error(self, message: str) -> NoReturn:
        if self.called_from_command_line:
            self.exit(BAD_ARGUMENTS, f"{self.prog}: error: {message} (see --help)\n")
        raise CommandError(f"Error: {message}", returncode=BAD_ARGUMENTS)


class GatewayCommand(BaseCommand):
    def create_parser(self, prog_name: str, subcommand: str, **kwargs: Any) -> CommandParser:
        parser = super().create_parser(prog_name, subcommand, **kwargs)
        # Django builds the parser itself (with its own default options); only its error() differs.
        parser.__class__ = OneLineParser
        return parser

    def execute(self, *args: Any, **options: Any) -> Any:
        try:
            return super().execute(*args, **options)
        except ValidationError as error:
            raise CommandError(" ".join(error.messages), returncode=BAD_ARGUMENTS) from error

    @property
    def actor(self) -> Actor:
        """The change history's name for this command's changes: `system.manage-py`, with the command's name."""
        return system_actor(via="cli", detail=type(self).__module__.rsplit(".", 1)[-1])


def usd_argument(value: str) -> Decimal:
    """A non-negative amount of USD: `50`, `12.5`."""
    try:
        amount = Decimal(value.strip().removeprefix("$"))
    except InvalidOperation:
        raise argparse.ArgumentTypeError(f"expected an amount of USD such as 50 or 12.5, not {value!r}") from None
    if not amount.is_finite() or amount < 0:
        raise argparse.ArgumentTypeError(f"expected a non-negative amount of USD, not {value!r}")
    return amount


def positive_int_argument(value: str) -> int:
    try:
        number = int(value)
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected a whole number, not {value!r}") from None
    if number < 1:
        raise argparse.ArgumentTypeError(f"expected a number of at least 1, not {value!r}")
    return number


def expiry_argument(value: str) -> datetime:
    """An ISO 8601 date or time (naive ones are UTC), or a duration from now: `30d`, `12h`, `90m`."""
    text = value.strip()
    if duration := _DURATION.fullmatch(text):
        return timezone.now() + timedelta(**{_UNITS[duration.group(2)]: int(duration.group(1))})
    try:
        moment = datetime.fromisoformat(text)
    except ValueError:
        raise argparse.ArgumentTypeError(
            f"expected an ISO 8601 date or time (2031-01-31, 2031-01-31T12:00Z) or a duration (30d, 12h), not {value!r}"
        ) from None
    return moment if timezone.is_aware(moment) else moment.replace(tzinfo=UTC)

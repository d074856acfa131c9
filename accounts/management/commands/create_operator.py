"""`manage.py create_operator`: the first operator (a superuser), once; safe to run on every deployment."""

import os
from typing import Any

from django.contrib.auth import get_user_model
from django.contrib.auth.password_validation import validate_password
from django.core.management.base import CommandError, CommandParser

from core.commands import BAD_ARGUMENTS, GatewayCommand


class Command(GatewayCommand):
    help = (
        "Creates an operator who can log in to the admin (a superuser), unless one of that name exists. "
        "The password is read from ADMIN_PASSWORD, never from the command line."
    )

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument("--username", required=True)
        parser.add_argument("--email", default="")

    def handle(self, *args: Any, **options: Any) -> str:
        users = get_user_model().objects
        username = options["username"].strip()
        if users.filter(username=username).exists():
            return f"operator {username} exists; left as it is"
        password = os.environ.get("ADMIN_PASSWORD", "")
        if not password:
            raise CommandError("Set ADMIN_PASSWORD to the new operator's password.", returncode=BAD_ARGUMENTS)
        user = users.model(username=username, email=options["email"])
        validate_password(password, user)  # a ValidationError: one line, exit 2 (GatewayCommand)
        users.create_superuser(username=username, email=options["email"], password=password)
        return f"created operator {username}; log in at /admin/"

"""Every command of ours answers a bad argument with one line on stderr and exit status 2, never a traceback."""

from datetime import timedelta

import pytest
from django.core.management import execute_from_command_line
from django.utils import timezone

from accounts.services import account_create
from keys.models import APIKey

# The real command line (execute_from_command_line), which closes the database connections as it ends:
# no test transaction could survive it.
pytestmark = pytest.mark.django_db(transaction=True)


def run(capsys, *argv: str) -> tuple[int, str]:
    with pytest.raises(SystemExit) as exited:
        execute_from_command_line(["manage.py", *argv])
    return int(exited.value.code or 0), capsys.readouterr().err


@pytest.mark.parametrize(
    ("argv", "said"),
    [
        (["create_account", "--user-id", "acme", "--budget", "abc"], "--budget: expected an amount of USD"),
        (["create_account", "--user-id", "acme", "--budget", "-5"], "non-negative"),
        (["create_account"], "the following arguments are required: --user-id"),
        (["create_key", "--user-id", "acme", "--expires", "tomorrow"], "--expires: expected an ISO 8601 date"),
        (["create_key", "--user-id", "acme", "--rpm", "0"], "--rpm: expected a number of at least 1"),
        (["create_key", "--user-id", "acme", "--tpm", "lots"], "--tpm: expected a whole number"),
        (["release_holds", "--older-than", "soon"], "--older-than"),
        (["spool", "--drian"], "unrecognized arguments: --drian"),
        (["serve", "--workers", "many"], "--workers: expected a whole number"),
        (["load_pricing", "--dry-run"], "unrecognized arguments: --dry-run"),
    ],
)
def test_a_bad_argument_is_one_line_and_exit_2(capsys, argv, said):
    status, err = run(capsys, *argv)
    assert status == 2
    assert said in err
    assert err.count("\n") == 1 and "Traceback" not in err, err


def test_a_refusal_of_the_service_is_one_line_and_exit_2(capsys):
    account_create(user_id="acme")
    status, err = run(capsys, "create_account", "--user-id", "acme")
    assert (status, err) == (2, "CommandError: An account with user_id 'acme' already exists.\n")
    status, err = run(capsys, "create_key", "--user-id", "nobody")
    assert (status, err) == (2, "CommandError: No account with user_id 'nobody'.\n")


def test_an_expiry_can_be_a_duration():
    account_create(user_id="acme")
    execute_from_command_line(["manage.py", "create_key", "--user-id", "acme", "--expires", "30d"])
    expires_at = APIKey.objects.get().expires_at
    assert expires_at is not None
    assert abs(expires_at - (timezone.now() + timedelta(days=30))) < timedelta(minutes=5)

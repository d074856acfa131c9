"""The budgets' clock: which window "now" falls in. A documented settings hook, so tests can set the date.

`GATEWAY_BUDGET_CLOCK` (setting `BUDGET_CLOCK`) names a callable returning an aware datetime,
e.g. "tests.budgets.clock.now"; unset, it is `django.utils.timezone.now`. Only window
arithmetic reads it: the age of holds, leases and rows keeps the real time.
"""

import functools
from collections.abc import Callable
from datetime import datetime

from django.conf import settings
from django.utils import timezone
from django.utils.module_loading import import_string


@functools.cache
def _clock(path: str) -> Callable[[], datetime]:
    return import_string(path) if path else timezone.now  # type: ignore[no-any-return]


def budget_now() -> datetime:
    return _clock(getattr(settings, "BUDGET_CLOCK", ""))()

"""Which alert thresholds a change of spend crosses: a pure function for the ledger to call as it books."""

from collections.abc import Iterable
from decimal import Decimal


def thresholds_crossed(*, before: Decimal, after: Decimal, limit: Decimal, thresholds: Iterable[int]) -> list[int]:
    """The thresholds (percent of `limit`) that spend going from `before` to `after` reaches, ascending.

    A threshold t is crossed when before < t % of limit <= after: reaching it exactly counts, and a
    jump over several crosses each of them. Spend that does not rise, or a limit of 0 or less
    (nothing can be spent), crosses none. Exact: compared as before·100 < t·limit <= after·100.
    """
    if limit <= 0 or after <= before:
        return []
    return sorted({pct for pct in thresholds if before * 100 < pct * limit <= after * 100})

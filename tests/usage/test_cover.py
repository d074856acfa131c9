"""A time range is cut into whole months, days and hours read from rollups, and minutes read from rows."""

from datetime import UTC, datetime, timedelta

import pytest

from usage.models import Span
from usage.reports import Piece, cover

pytestmark = pytest.mark.engine_independent


def test_a_range_is_cut_into_the_largest_whole_buckets():
    since, until = datetime(2026, 1, 30, 22, 15, tzinfo=UTC), datetime(2026, 4, 2, 3, 30, tzinfo=UTC)
    assert cover(since, until) == [
        Piece(Span.MONTH, datetime(2026, 2, 1, tzinfo=UTC), datetime(2026, 4, 1, tzinfo=UTC)),
        Piece(Span.DAY, datetime(2026, 1, 31, tzinfo=UTC), datetime(2026, 2, 1, tzinfo=UTC)),
        Piece(Span.HOUR, datetime(2026, 1, 30, 23, tzinfo=UTC), datetime(2026, 1, 31, tzinfo=UTC)),
        Piece(None, since, datetime(2026, 1, 30, 23, tzinfo=UTC)),
        Piece(Span.DAY, datetime(2026, 4, 1, tzinfo=UTC), datetime(2026, 4, 2, tzinfo=UTC)),
        Piece(Span.HOUR, datetime(2026, 4, 2, tzinfo=UTC), datetime(2026, 4, 2, 3, tzinfo=UTC)),
        Piece(None, datetime(2026, 4, 2, 3, tzinfo=UTC), until),
    ]
    assert cover(None, None) == [Piece(Span.MONTH, None, None)]
    assert cover(since, since + timedelta(minutes=5)) == [Piece(None, since, since + timedelta(minutes=5))]
    assert [piece.span for piece in cover(since, until, Span.DAY)].count(Span.MONTH) == 0

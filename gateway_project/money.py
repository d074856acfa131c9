"""Money fields: Decimal USD exact to 1e-10, never float."""

from decimal import Decimal
from typing import Any

from django.db import models

USD_PLACES = 10
USD_QUANTUM = Decimal(1).scaleb(-USD_PLACES)
ZERO = Decimal(0)


def usd_field(**kwargs: Any) -> models.DecimalField:
    kwargs.setdefault("max_digits", 24)
    kwargs.setdefault("decimal_places", USD_PLACES)
    return models.DecimalField(**kwargs)


def quantize_usd(value: Decimal) -> Decimal:
    return value.quantize(USD_QUANTUM)

"""Money: Decimal USD exact to 1e-10 in Python; ledger amounts stored as integer units on every engine.

Prices are `usd_field` (a DecimalField: read, never summed or added to in SQL). Everything
the database adds, compares or sums — budgets, spend, holds, the cost of a usage row — is a
`MoneyField`: a BIGINT of 1e-10 USD units. SQLite keeps DECIMAL columns as floating point,
so `reserved + x` in one UPDATE drifted (−0.40 seen) and Sum() lost cents; integers are
exact everywhere, and one representation serves SQLite, PostgreSQL and MongoDB alike.
The largest amount is MONEY_MAX (about 922 million USD).
"""

from decimal import ROUND_CEILING, Decimal
from typing import Any

from django import forms
from django.core.exceptions import ValidationError
from django.db import models
from django.db.models import Value

USD_PLACES = 10
USD_QUANTUM = Decimal(1).scaleb(-USD_PLACES)
ZERO = Decimal(0)
_UNITS_MAX = 2**63 - 1
MONEY_MAX = Decimal(_UNITS_MAX).scaleb(-USD_PLACES).quantize(Decimal(1), rounding="ROUND_FLOOR")


def usd_field(**kwargs: Any) -> models.DecimalField:
    kwargs.setdefault("max_digits", 24)
    kwargs.setdefault("decimal_places", USD_PLACES)
    return models.DecimalField(**kwargs)


def quantize_usd(value: Decimal) -> Decimal:
    return value.quantize(USD_QUANTUM)


def usd_text(value: Decimal) -> str:
    """An amount as plain decimal text without trailing zeros: "0", "0.00000123", "12.5" (never "0E-10")."""
    text = format(value.normalize(), "f")
    return "0" if text == "-0" else text


def ceil_usd(value: Decimal) -> Decimal:
    """Rounded up to the quantum: what a hold uses, so it never falls short of the bound it stands for."""
    return value.quantize(USD_QUANTUM, rounding=ROUND_CEILING)


def to_units(value: Decimal | int | str) -> int:
    """USD → integer units of 1e-10; refuses amounts that are not exact or do not fit."""
    amount = Decimal(value)
    if not amount.is_finite():
        raise ValidationError("Amounts of money must be finite.")
    units = amount.scaleb(USD_PLACES)
    if units != units.to_integral_value():
        raise ValidationError(f"{amount} has more than {USD_PLACES} decimal places.")
    if abs(units) > _UNITS_MAX:
        raise ValidationError(f"{amount} USD is beyond the largest amount the gateway keeps ({MONEY_MAX}).")
    return int(units)


def from_units(units: int | Decimal | float) -> Decimal:
    return Decimal(int(units)).scaleb(-USD_PLACES).quantize(USD_QUANTUM)


def units_value(amount: Decimal) -> Value:
    """An amount for F() arithmetic on a MoneyField column: `F("spent_usd") + units_value(cost)`."""
    return Value(to_units(amount), output_field=models.BigIntegerField())


class MoneyField(models.BigIntegerField):  # type: ignore[type-arg]
    """USD as a Decimal in Python, an exact BIGINT of 1e-10 units in the database."""

    description = "Exact USD amount (stored as integer units of 1e-10)"

    def from_db_value(self, value: Any, expression: Any, connection: Any) -> Decimal | None:
        return None if value is None else from_units(value)

    def to_python(self, value: Any) -> Decimal | None:
        if value is None or isinstance(value, Decimal):
            return value
        try:
            return Decimal(str(value))
        except ArithmeticError:
            raise ValidationError("Enter a number.", code="invalid") from None

    def get_prep_value(self, value: Any) -> Any:
        if value is None or hasattr(value, "resolve_expression"):
            return value
        return to_units(self.to_python(value))  # type: ignore[arg-type]

    def formfield(self, **kwargs: Any) -> Any:
        defaults = {"form_class": forms.DecimalField, "max_digits": 19, "decimal_places": USD_PLACES, **kwargs}
        return models.Field.formfield(self, **defaults)


def money_field(**kwargs: Any) -> MoneyField:
    return MoneyField(**kwargs)

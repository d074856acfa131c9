"""Admin form for API keys: allowed models typed as a comma-separated list instead of raw JSON."""

import re
from typing import Any

from django import forms

from keys.models import APIKey


class ModelListField(forms.CharField):
    """`gpt-5, claude-sonnet-4-5` ⇄ ["claude-sonnet-4-5", "gpt-5"]; empty means every model."""

    def prepare_value(self, value: Any) -> Any:
        return ", ".join(value) if isinstance(value, list | tuple) else value

    def to_python(self, value: Any) -> list[str]:  # type: ignore[override]
        if isinstance(value, list):
            return value
        return [name for name in re.split(r"[,\s]+", str(value or "")) if name]

    def has_changed(self, initial: Any, data: Any) -> bool:
        return sorted(initial or []) != sorted(self.to_python(data))


class APIKeyForm(forms.ModelForm):
    allowed_models = ModelListField(
        required=False,
        help_text="Comma-separated model names; leave empty to allow every model.",
        widget=forms.TextInput(attrs={"size": 60, "placeholder": "every model"}),
    )

    class Meta:
        model = APIKey
        fields = ("account", "name", "is_active", "expires_at", "allowed_models", "rpm_limit", "tpm_limit")

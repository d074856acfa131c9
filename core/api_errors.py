"""Management API input and errors: strict input, money fields, service rule violations as 400s, 404s."""

from collections.abc import Mapping
from typing import Any

from django.core.exceptions import ObjectDoesNotExist
from django.core.exceptions import ValidationError as DjangoValidationError
from django.http import HttpRequest, JsonResponse
from django.views.decorators.csrf import csrf_exempt
from drf_spectacular.extensions import OpenApiSerializerExtension
from drf_spectacular.types import OpenApiTypes
from drf_spectacular.utils import OpenApiResponse
from rest_framework import exceptions, serializers
from rest_framework.request import Request
from rest_framework.response import Response
from rest_framework.views import exception_handler


def api_exception_handler(exc: Exception, context: dict[str, Any]) -> Response | None:
    """DRF's handler, taught the two exceptions our services and selectors raise."""
    if isinstance(exc, DjangoValidationError):
        exc = exceptions.ValidationError(serializers.as_serializer_error(exc))
    elif isinstance(exc, ObjectDoesNotExist):
        exc = exceptions.NotFound()
    return exception_handler(exc, context)


class StrictSerializer(serializers.Serializer):  # type: ignore[type-arg]
    """Input serializer refusing fields it does not know, so a typo is a 400 and not silently dropped."""

    def to_internal_value(self, data: Any) -> Any:
        if isinstance(data, Mapping):
            writable = {name for name, field in self.fields.items() if not field.read_only}
            unknown = sorted(str(name) for name in data if name not in writable)
            if unknown:
                raise serializers.ValidationError({name: ["Unknown field."] for name in unknown})
        return super().to_internal_value(data)


def validate_input(serializer_class: type[serializers.Serializer], data: Any) -> dict[str, Any]:  # type: ignore[type-arg]
    """The validated data of `serializer_class` for `data`, or a 400."""
    serializer = serializer_class(data=data)
    serializer.is_valid(raise_exception=True)
    return dict(serializer.validated_data)


def query_text(request: Request, name: str) -> str:
    """A free-text query parameter, validated like a serializer field (NUL characters, length): else a 400."""
    field = serializers.CharField(allow_blank=True, max_length=200)
    try:
        return str(field.run_validation(request.query_params.get(name, "")))
    except serializers.ValidationError as exc:
        raise serializers.ValidationError({name: exc.detail}) from None


@csrf_exempt  # it changes nothing: a DELETE must get this 404, not the CSRF check's HTML 403
def api_not_found(request: HttpRequest, path: str = "") -> JsonResponse:
    """Any other /api/ path (a typo, or an identifier no route pattern takes: one with a line break): DRF's 404
    body, never Django's HTML page, whatever the method."""
    return JsonResponse({"detail": "Not found."}, status=404)


def path_text(value: str) -> str:
    """A text identifier from the URL. One with a NUL character cannot name a stored row: 404, not a database error."""
    if "\x00" in value:
        raise exceptions.NotFound()
    return value


class UsdField(serializers.DecimalField):
    """DRF's DecimalField, except that a blank string is not null.

    DRF reads `""` (or blanks) as null wherever null is allowed, so `PATCH {"budget_usd": ""}`
    made an account unlimited. Only JSON null means "no amount"; a blank is refused as any other
    string that is not a number. (An HTML form's empty field still arrives as null: DRF maps it
    before validation, and a form has no other way to say it.)
    """

    def validate_empty_values(self, data: Any) -> tuple[bool, Any]:
        if isinstance(data, str) and not data.strip():
            self.fail("invalid")
        return super().validate_empty_values(data)  # type: ignore[no-any-return]


def usd_field(**kwargs: Any) -> serializers.DecimalField:
    """USD as a decimal string, exact to 1e-10 like the models; blanks, NaN, Infinity and too many places are 400s."""
    return UsdField(max_digits=24, decimal_places=10, coerce_to_string=True, **kwargs)


class StrictSerializerSchema(OpenApiSerializerExtension):
    """Says `additionalProperties: false` in the schema, as the serializer enforces."""

    target_class = StrictSerializer
    match_subclasses = True

    def map_serializer(self, auto_schema: Any, direction: Any) -> Any:
        schema = auto_schema._map_basic_serializer(self.target, direction)
        return {**schema, "additionalProperties": False}


class ErrorDetail(serializers.Serializer):  # type: ignore[type-arg]
    detail = serializers.CharField()


_ERRORS = {
    400: OpenApiResponse(OpenApiTypes.OBJECT, description="Invalid input: field name → list of messages."),
    401: OpenApiResponse(ErrorDetail, description="Missing or invalid admin token."),
    403: OpenApiResponse(ErrorDetail, description="Logged in, but not as staff (or CSRF failed)."),
    404: OpenApiResponse(ErrorDetail, description="No such object."),
}


def error_responses(*codes: int) -> dict[int, OpenApiResponse]:
    """The error bodies for `extend_schema(responses=…)`; 401 and 403 apply to every route."""
    return {code: _ERRORS[code] for code in sorted({401, 403, *codes})}

"""Management API for model prices: list with search, create-or-update by `model`, get and delete."""

from typing import Any

from drf_spectacular.utils import OpenApiParameter, OpenApiResponse, extend_schema
from rest_framework import exceptions, serializers, status
from rest_framework.request import Request
from rest_framework.response import Response

from core.api_auth import ListPagination, ManagementAPIView
from core.api_errors import error_responses, path_text, query_text, validate_input
from pricing.models import ModelCost
from pricing.selectors import MODE_PRICES, cost_get, cost_list
from pricing.serializers import CostInput, CostOutput
from pricing.services import cost_delete, cost_upsert

_KEPT = ("provider", "input_per_mtok", "output_per_mtok", "cache_write_per_mtok", "cache_read_per_mtok", *MODE_PRICES)
_REQUIRED_FOR_NEW = ("input_per_mtok", "output_per_mtok")


def _merged(data: dict[str, Any], current: ModelCost | None) -> dict[str, Any]:
    """The full price to store: the posted fields over the current ones (a partial update)."""
    if current is None:
        missing = [name for name in _REQUIRED_FOR_NEW if name not in data]
        if missing:
            raise serializers.ValidationError({name: ["Required for a new model."] for name in missing})
        return data
    return {**{name: getattr(current, name) for name in _KEPT}, **data}


class CostListUpsert(ManagementAPIView):
    permission_model = ModelCost

    pagination_class = ListPagination

    @extend_schema(
        tags=["costs"],
        parameters=[OpenApiParameter("search", str, description="Part of the model or provider name.")],
        responses={200: CostOutput(many=True), **error_responses(400)},
    )
    def get(self, request: Request) -> Response:
        """Model prices in USD per million tokens, by model name."""
        return self.paginated(cost_list(search=query_text(request, "search")), CostOutput)

    @extend_schema(
        tags=["costs"],
        request=CostInput,
        responses={
            200: OpenApiResponse(CostOutput, description="The model was already priced: updated (or unchanged)."),
            201: OpenApiResponse(CostOutput, description="A new model was priced."),
            **error_responses(400),
        },
    )
    def post(self, request: Request) -> Response:
        """Prices a model, or updates its price: 201 when created, 200 otherwise."""
        data = validate_input(CostInput, request.data)
        cost, outcome = cost_upsert(**_merged(data, cost_get(model=data["model"])), actor=self.actor)
        code = status.HTTP_201_CREATED if outcome == "created" else status.HTTP_200_OK
        return Response(CostOutput(cost).data, status=code)


MODEL = OpenApiParameter("model", str, OpenApiParameter.PATH, description="The model name; it may contain `/`.")


def _priced(model: str) -> ModelCost:
    cost = cost_get(model=path_text(model))
    if cost is None:
        raise exceptions.NotFound()
    return cost


class CostDetail(ManagementAPIView):
    permission_model = ModelCost

    @extend_schema(tags=["costs"], parameters=[MODEL], responses={200: CostOutput, **error_responses(404)})
    def get(self, request: Request, model: str) -> Response:
        """One model's price."""
        return Response(CostOutput(_priced(model)).data)

    @extend_schema(tags=["costs"], parameters=[MODEL], responses={204: None, **error_responses(404)})
    def delete(self, request: Request, model: str) -> Response:
        """Removes a model's price, as the admin can; calls to that model then cost nothing until it is priced again."""
        cost_delete(cost=_priced(model), actor=self.actor)
        return Response(status=status.HTTP_204_NO_CONTENT)

"""Management API for spend reports: usage across accounts per group and period, as JSON pages or one CSV."""

from typing import Any

from drf_spectacular.utils import OpenApiParameter, OpenApiResponse, extend_schema
from rest_framework.renderers import BaseRenderer, BrowsableAPIRenderer, JSONRenderer
from rest_framework.request import Request
from rest_framework.response import Response

from core.api_auth import ListPagination, ManagementAPIView
from core.api_errors import error_responses, validate_input
from usage.api import usage_scope
from usage.exports import csv_lines
from usage.serializers import SpendGroupOutput, SpendReportFilter, SpendReportOutput, UsageTotalsOutput
from usage.spend import SpendReport, default_since, spend_report


class CSVRenderer(BaseRenderer):
    """`?format=csv` (or `Accept: text/csv`): the whole report, every group, as one CSV file."""

    media_type = "text/csv"
    format = "csv"
    charset = "utf-8"

    def render(self, data: Any, accepted_media_type: str | None = None, renderer_context: Any = None) -> str:
        if isinstance(data, SpendReport):
            lines = csv_lines(data.columns(), ([row.get(name) for name in data.columns()] for row in data.rows))
            return "".join(lines)
        # An error: its messages, one per line, so a spreadsheet still says what went wrong.
        return "".join(csv_lines(["field", "error"], _errors(data)))


def _errors(data: Any) -> list[tuple[str, str]]:
    if isinstance(data, dict):
        return [(str(name), str(message)) for name, messages in data.items() for message in _listed(messages)]
    return [("", str(data))]


def _listed(value: Any) -> list[Any]:
    return value if isinstance(value, list) else [value]


class SpendReportView(ManagementAPIView):
    renderer_classes = [JSONRenderer, BrowsableAPIRenderer, CSVRenderer]

    @extend_schema(
        tags=["reports"],
        parameters=[
            SpendReportFilter,
            OpenApiParameter("limit", int, description="Groups per page (default 100, at most 1000)."),
            OpenApiParameter("offset", int, description="Groups to skip."),
            OpenApiParameter("format", str, enum=["json", "csv"], description="csv: every group as one CSV file."),
        ],
        responses={
            200: OpenApiResponse(SpendReportOutput, description="JSON, or with format=csv the whole report as CSV."),
            **error_responses(400),
        },
    )
    def get(self, request: Request) -> Response:
        """Usage and spend across accounts over a time range (default: the last 30 UTC days), grouped and totalled."""
        filters = validate_input(SpendReportFilter, request.query_params)
        filters.setdefault("since", default_since())
        report = spend_report(
            scope=usage_scope(filters), group_by=filters.get("group_by", ()), period=filters.get("period")
        )
        if request.accepted_renderer.format == "csv":
            response = Response(report)
            until = f"-{report.scope.until:%Y%m%d}" if report.scope.until else ""
            response["Content-Disposition"] = f'attachment; filename="spend-{report.scope.since:%Y%m%d}{until}.csv"'
            return response
        paginator = ListPagination()
        page = paginator.paginate_queryset(report.rows, request, view=self) or []
        return Response(
            {
                "since": report.scope.since,
                "until": report.scope.until,
                "group_by": list(report.group_by),
                "period": report.period,
                "count": len(report.rows),
                "next": paginator.get_next_link(),
                "previous": paginator.get_previous_link(),
                "results": SpendGroupOutput(page, many=True).data,
                "totals": UsageTotalsOutput(report.totals).data,
            }
        )

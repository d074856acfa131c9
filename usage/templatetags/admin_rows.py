"""`{% result_list_fast cl %}`: Django's `result_list` tag (same templates, same HTML), rows from core.admin_rows."""

from typing import Any

from django import template
from django.contrib.admin.templatetags.base import InclusionAdminNode

from core.admin_rows import result_list_context

register = template.Library()


@register.tag(name="result_list_fast")
def result_list_fast(parser: Any, token: Any) -> InclusionAdminNode:
    # The same node as Django's tag: change_list_results.html may still be overridden per model or app.
    return InclusionAdminNode(  # type: ignore[call-arg] # django-stubs lacks `func`, as Django's own tag passes it
        parser, token, func=result_list_context, template_name="change_list_results.html", takes_context=False
    )

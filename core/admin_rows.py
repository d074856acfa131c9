"""A change list's rows drawn in one pass: the HTML of Django's `result_list` tag, with its per-cell work done per page.

Django's `items_for_result` works out, for every cell of every row, what the column is (a field
lookup that fails for each display method), its empty text (a lazy translation), its link (one
`reverse()` and a parse of the preserved filters per row) and a boolean's icon (a `static()` per
row). On the usage list (50 rows of 11 columns) that was a third of the page's CPU time. Here each
column is resolved once, the change URL is reversed once with a mark put in place of the id, and
a field's display is computed once per distinct value. The HTML is the same, byte for byte
(tests/admin/test_admin_rows.py compares it with Django's); pages this does not cover (popups,
editable lists, callables in list_display, relation fields) are drawn by Django's own code.
"""

import datetime
import functools
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any
from urllib.parse import quote as url_quote

from django.conf import settings
from django.contrib.admin.templatetags.admin_list import ResultList, result_headers, result_hidden_fields, results
from django.contrib.admin.templatetags.admin_urls import add_preserved_filters
from django.contrib.admin.utils import display_for_field, display_for_value, quote
from django.contrib.admin.views.main import ChangeList
from django.core.exceptions import FieldDoesNotExist, ObjectDoesNotExist
from django.db import models
from django.urls import NoReverseMatch, get_script_prefix, get_urlconf, reverse
from django.utils.html import conditional_escape
from django.utils.http import RFC3986_SUBDELIMS
from django.utils.safestring import SafeString, mark_safe

# Stands for a row's id in the one reversed change URL: letters only, so no quoting changes it.
_MARK = "gwrowmark"
_NOWRAP = (models.DateField, models.TimeField, models.ForeignKey)


@dataclass(frozen=True)
class _Column:
    css: str  # ' class="field-name"', and nowrap where Django adds it for the field
    link: bool
    cell: Callable[[Any], Any]  # the row → its cell's contents (escaped when drawn)
    empty: str


def _field_cell(field: models.Field, empty: str, link: bool) -> Callable[[Any], Any]:
    shown: dict[Any, Any] = {}  # one display per distinct value: a page has few models, providers, booleans

    def cell(obj: Any) -> Any:
        value = getattr(obj, field.attname)
        if isinstance(value, str) and value.strip() == "":
            value = ""
        try:
            return shown[value]
        except KeyError:
            shown[value] = display_for_field(value, field, empty, avoid_link=link)
            return shown[value]
        except TypeError:  # unhashable: not kept
            return display_for_field(value, field, empty, avoid_link=link)

    return cell


def _method_cell(method: Callable[[Any], Any], empty: str) -> Callable[[Any], Any]:
    boolean = getattr(method, "boolean", False)

    def cell(obj: Any) -> Any:
        value = method(obj)
        if isinstance(value, str) and not boolean:
            return value if value.strip() else empty
        if isinstance(value, (datetime.date, datetime.time)):
            return _Nowrap(display_for_value(value, empty, boolean))
        return display_for_value(value, empty, boolean)

    return cell


class _Nowrap(str):
    """A method's date or time, shown as Django shows it: its cell gets the nowrap class as well."""


def _columns(cl: ChangeList) -> list[_Column] | None:
    """Each column of `cl` resolved once; None when one of them is a kind only Django's code draws."""
    model_admin, opts = cl.model_admin, cl.lookup_opts
    columns = []
    links = cl.list_display_links
    for index, name in enumerate(cl.list_display):
        if not isinstance(name, str) or name in ("action_checkbox", "__str__"):
            return None
        empty = model_admin.get_empty_value_display()
        # As Django's link_in_col: no links; the first column when none is named; else the named ones.
        link = links is not None and (name in links or (not links and index == 0))
        classes = f"field-{name}"
        try:
            field = opts.get_field(name)
        except FieldDoesNotExist:
            method = getattr(model_admin, name, None)
            if method is None or not callable(method):
                return None
            empty = getattr(method, "empty_value_display", empty)
            cell = _method_cell(method, empty)
        else:
            if field.is_relation or field.auto_created or not isinstance(field, models.Field):
                return None
            cell = _field_cell(field, empty, link)
            if isinstance(field, _NOWRAP):
                classes += " nowrap"
        columns.append(_Column(css=f' class="{classes}"', link=link, cell=cell, empty=empty))
    return columns


def _change_url(cl: ChangeList) -> Callable[[Any], str] | None:
    """The row → its change page's URL with the list's filters kept, as `cl.url_for_result` and the tag make it."""
    opts = cl.opts
    try:
        name, site = f"admin:{opts.app_label}_{opts.model_name}_change", cl.model_admin.admin_site.name
        marked = reverse(name, args=(_MARK,), current_app=site)
    except NoReverseMatch:
        return None
    marked = add_preserved_filters({"preserved_filters": cl.preserved_filters, "opts": opts}, marked)
    head, _, tail = marked.partition(_MARK)  # the first mark: the path's, whatever the filters hold
    pk_name = cl.pk_attname

    def url(obj: Any) -> str:
        return f"{head}{_quoted(getattr(obj, pk_name))}{tail}"

    return url


@functools.lru_cache(maxsize=64)
def _marked_url(viewname: str, root: str, urlconf: Any, prefix: str) -> str:
    # Keyed on what reverse() reads (the URLconf, the script prefix), so it is the same as calling it.
    return reverse(viewname, urlconf=urlconf, args=(_MARK,))


def _quoted(pk: Any) -> str:
    # As url_for_result: the admin's quote(), then reverse()'s own quoting of its arguments.
    return url_quote(str(quote(pk)), safe=RFC3986_SUBDELIMS + "/~:@")


def change_url(viewname: str, pk: Any) -> str:
    """`reverse(viewname, args=[quote(pk)])` for an admin change page, for a cell drawn on every row of a list."""
    marked = _marked_url(viewname, settings.ROOT_URLCONF, get_urlconf(), get_script_prefix())
    head, _, tail = marked.partition(_MARK)
    return f"{head}{_quoted(pk)}{tail}"


def _row(obj: Any, columns: list[_Column], change_url: Callable[[Any], str] | None) -> SafeString:
    cells, first = [], True
    for column in columns:
        try:
            value = column.cell(obj)
        except ObjectDoesNotExist:
            value = column.empty
        css = column.css if not isinstance(value, _Nowrap) else f'{column.css[:-1]} nowrap"'
        shown: str = conditional_escape(value)
        if not column.link:
            cells.append(f"<td{css}>{shown}</td>")
            continue
        tag, first = ("th" if first else "td"), False
        if change_url is not None:
            shown = f'<a href="{conditional_escape(change_url(obj))}">{shown}</a>'
        cells.append(f"<{tag}{css}>{shown}</{tag}>")
    return mark_safe("".join(cells))  # noqa: S308 - every value above went through conditional_escape


def change_list_rows(cl: ChangeList) -> list[ResultList] | None:
    """`cl`'s rows as Django's tag makes them, each one drawn item; None where only Django's code can draw them."""
    if getattr(cl, "formset", None) is not None or cl.is_popup or cl.to_field:
        return None
    columns = _columns(cl)
    if columns is None:
        return None
    change_url = _change_url(cl)
    # One item per row (the template loops over a row's items): 50 renders of a variable instead of 550.
    return [ResultList(None, [_row(obj, columns, change_url)]) for obj in cl.result_list]


def result_list_context(cl: ChangeList) -> dict[str, Any]:
    """What Django's `result_list` tag gives its template, the rows drawn here when they can be."""
    headers = list(result_headers(cl))
    rows = change_list_rows(cl)
    return {
        "cl": cl,
        "result_hidden_fields": list(result_hidden_fields(cl)),
        "result_headers": headers,
        "num_sorted_fields": sum(1 for header in headers if header["sortable"] and header["sorted"]),
        "results": list(results(cl)) if rows is None else rows,
    }

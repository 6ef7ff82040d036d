"""What every dashboard view shares: the ML-admin gate, paging, and HTMX partial rendering."""

from __future__ import annotations

from collections.abc import Callable
from functools import wraps
from typing import Any, TypeVar

from django.contrib.auth.decorators import login_required
from django.core.exceptions import PermissionDenied
from django.core.paginator import Page, Paginator
from django.http import HttpRequest, HttpResponse
from django.shortcuts import render

from apps.common.roles import is_ml_admin

ViewT = TypeVar("ViewT", bound=Callable[..., HttpResponse])

# HTMX polls a live part of a page this often, and stops when the server answers 286.
POLL_SECONDS = 2
# htmx stops polling an element whose request is answered with this status.
STOP_POLLING = 286
PAGE_SIZE = 25


def ml_admin_required(action: str) -> Callable[[ViewT], ViewT]:
    """Let only ML admins through (others get 403 saying what they tried); implies login_required."""

    def decorate(view: ViewT) -> ViewT:
        @wraps(view)
        def wrapper(request: HttpRequest, *args: Any, **kwargs: Any) -> HttpResponse:
            if not is_ml_admin(request.user):
                raise PermissionDenied(
                    f"Only ML admins may {action}. Ask an administrator to add your account to the ml_admin group."
                )
            return view(request, *args, **kwargs)

        return login_required(wrapper)  # type: ignore[return-value]

    return decorate


def page_of(request: HttpRequest, items: Any, *, per_page: int = PAGE_SIZE) -> Page:
    """The page ``?page=`` asks for (the first for a bad number, the last past the end)."""
    return Paginator(items, per_page).get_page(request.GET.get("page"))


def render_page(
    request: HttpRequest,
    template: str,
    context: dict[str, Any],
    *,
    partials: dict[str, str] | None = None,
    status: int = 200,
) -> HttpResponse:
    """Render ``template``, or only one of its partials when HTMX asks to swap that partial's element.

    ``partials`` maps an element id (HTMX's ``HX-Target``) to the partial that renders it.
    """
    target = request.htmx.target if getattr(request, "htmx", False) else None
    if partials and target in partials:
        return render(request, f"{template}#{partials[target]}", context, status=status)
    return render(request, template, context)


def is_polling(request: HttpRequest, element_id: str) -> bool:
    return bool(getattr(request, "htmx", False)) and request.htmx.target == element_id

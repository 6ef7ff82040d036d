"""What every dashboard view shares: the ML-admin gate, paging, and HTMX partial rendering."""

from __future__ import annotations

from collections.abc import Callable
from functools import cached_property, wraps
from typing import TYPE_CHECKING, Any, TypeVar, cast

from django.contrib.auth.decorators import login_required
from django.core.exceptions import PermissionDenied
from django.core.paginator import EmptyPage, Page, PageNotAnInteger, Paginator
from django.http import HttpRequest, HttpResponse
from django.shortcuts import render

from apps.common.roles import is_ml_admin

if TYPE_CHECKING:
    from django.db.models import QuerySet


ViewT = TypeVar("ViewT", bound=Callable[..., HttpResponse])

# HTMX polls a live part of a page this often, and stops when the server answers 286.
POLL_SECONDS = 2
# A part that waits for something to start (a run on the home page) asks this often while nothing goes on.
IDLE_POLL_SECONDS = 10
# htmx stops polling an element whose request is answered with this status.
STOP_POLLING = 286
PAGE_SIZE = 25
# Lists that may match most of a large table count their items up to this many and say "10,000+" beyond.
COUNT_CAP = 10_000


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


def page_of(
    request: HttpRequest,
    items: Any,
    *,
    per_page: int = PAGE_SIZE,
    count_cap: int | None = None,
    when_capped: Any = None,
) -> Page:
    """The page ``?page=`` asks for (the first for a bad number, the last past the end).

    With ``count_cap`` the items are counted up to that many only, and ``when_capped`` (the same items
    in another order of the database's) reads the first pages of a list longer than that: see
    ``CappedPaginator``.
    """
    if count_cap is None:
        paginator = Paginator(items, per_page)
    else:
        paginator = CappedPaginator(items, per_page, cap=count_cap, when_capped=when_capped)
    return paginator.get_page(request.GET.get("page"))


class CappedPaginator(Paginator):
    """Pages of a queryset that counts at most ``cap`` + 1 of its items (two queries a page, as Paginator).

    Counting all the matches of a broad filter (tens of thousands) costs more than finding a page of them.
    The count reads any ``cap`` + 1 matches, unordered, so the database stops there; past the cap the total
    is unknown (``capped``, shown as "10,000+"), and a page reads one item more than it shows to know
    whether a next page exists. A page past the end of a capped list falls back to the first.

    ``when_capped`` holds the same items, in the same order, written so that the database walks an index
    and stops after a page: cheap for the first pages of a long list (the items are dense along that
    index), dear deep into it; the first ``CAPPED_WALK_PAGES`` pages of a capped list read it.
    """

    CAPPED_WALK_PAGES = 4

    def __init__(self, object_list: Any, per_page: int, *, cap: int, when_capped: Any = None) -> None:
        super().__init__(object_list, per_page)
        self.cap = cap
        self.when_capped = when_capped

    @cached_property
    def count(self) -> int:
        # The capped paginator pages querysets only.
        return cast("QuerySet[Any]", self.object_list).order_by()[: self.cap + 1].count()

    @property
    def capped(self) -> bool:
        return self.count > self.cap

    @cached_property
    def num_pages(self) -> int:
        if self.capped:
            # Unknown; at least the pages the counted items fill.
            return -(-self.count // self.per_page)
        return super().num_pages

    def validate_number(self, number: Any) -> int:
        if not self.capped:
            return super().validate_number(number)
        try:
            if isinstance(number, float) and not number.is_integer():
                raise ValueError
            number = int(number)
        except (TypeError, ValueError):
            raise PageNotAnInteger("That page number is not an integer") from None
        if number < 1:
            raise EmptyPage("That page number is less than 1")
        return number

    def page(self, number: Any) -> Page:
        if not self.capped:
            return super().page(number)
        number = self.validate_number(number)
        bottom = (number - 1) * self.per_page
        walk = self.when_capped is not None and number <= self.CAPPED_WALK_PAGES
        items = list((self.when_capped if walk else self.object_list)[bottom : bottom + self.per_page + 1])
        if not items and number > 1:
            raise EmptyPage("That page contains no results")
        return CappedPage(items[: self.per_page], number, self, more=len(items) > self.per_page)

    def get_page(self, number: Any) -> Page:
        if not self.capped:
            return super().get_page(number)
        try:
            return self.page(number)
        except (PageNotAnInteger, EmptyPage):
            return self.page(1)


class CappedPage(Page):
    """A page of a capped list: whether a next page exists is known from the extra item read."""

    def __init__(self, object_list: Any, number: int, paginator: CappedPaginator, *, more: bool) -> None:
        super().__init__(object_list, number, paginator)
        self.more = more

    def has_next(self) -> bool:
        return self.more

    def end_index(self) -> int:
        return (self.number - 1) * self.paginator.per_page + len(self.object_list)


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
    htmx = getattr(request, "htmx", None)  # django-htmx's middleware sets it
    target = htmx.target if htmx else None
    if partials and target in partials:
        return render(request, f"{template}#{partials[target]}", context, status=status)
    return render(request, template, context)


def is_polling(request: HttpRequest, element_id: str) -> bool:
    htmx = getattr(request, "htmx", None)
    return bool(htmx and htmx.target == element_id)

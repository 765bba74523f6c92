"""Cache a DRF view's GET response with tags: `@cache_response(...)` on a handler, or `CachedResponseMixin`.

    class ReportDetail(APIView):
        permission_classes = [HasRequiredAcl]

        @cache_response(key_prefix="report-view", ttl=60, tags=lambda request, pk: [f"report:{pk}"])
        def get(self, request: Request, pk: int) -> Response: ...

The handler method is wrapped, not `dispatch`: DRF authenticates, checks permissions and throttles
in `initial()` before it calls the handler, so a caller who may not see the response is refused
before the cache is consulted. Object permissions, which DRF checks inside the handler
(`get_object()`), are skipped by a hit: fine per caller, but a shared `scope` needs view-level
checks only. What is cached is the response's `data` (and the headers the view
set); a hit renders it again through the renderer negotiated for *this* request, so `Accept` needs
no place in the key. Only a `Response` with status 200 to GET/HEAD is stored; raised errors and
other statuses pass through untouched.

The key is `<key_prefix>:<path>:caller=<scope>:q=<sorted query>@<tenant>`: the tenant comes from
`apps.core.context` as for every `@cached` key, the scope from `caller_scope` (the caller's actor
and ACL) unless the view passes its own. The storage is `@cached`'s: one MGET per hit, tags written
with the value in one Lua call, the stale-write guard, the lock, degradation when Redis is down.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from typing import Any, ClassVar, Protocol, cast

from django.http import HttpResponseBase
from rest_framework.request import Request
from rest_framework.response import Response

from apps.caching.decorators import cached
from apps.caching.keys import cache_key
from apps.core.context import actor_for_user

__all__ = ["CACHE_STATUS_HEADER", "CachedResponseMixin", "cache_response", "caller_scope"]

CACHE_STATUS_HEADER = "X-Cache"
_CACHEABLE_METHODS = frozenset({"GET", "HEAD"})
# Set by Django/DRF from the request when the response is rendered, never replayed from the cache.
_UNCACHED_HEADERS = frozenset({"content-type", "content-length", CACHE_STATUS_HEADER.lower()})

Handler = Callable[..., HttpResponseBase]
TagsOf = Callable[..., Iterable[str]]
ScopeOf = Callable[[Request], object]


def caller_scope(request: Request) -> object:
    """Who the response is for: the actor (token user's UUID, `admin:<username>`) and, for token
    callers, their ACL patterns, so a caller whose ACL changed does not reuse a body built for the
    old one. Anonymous callers share the scope `anonymous`."""
    user = request.user
    actor = actor_for_user(user)
    if actor is None:
        return "anonymous"
    acl = getattr(user, "acl", None)  # Accent-Auth token users carry their ACL patterns
    return actor if acl is None else (actor, sorted(acl))


@dataclass(frozen=True, slots=True)
class CachedBody:
    """What is stored for one response: its data (rendered again on each hit) and its own headers."""

    data: Any
    headers: tuple[tuple[str, str], ...] = ()


class _NotCacheable(Exception):
    """Carries a response that must not be stored (status other than 200) out of the cached call."""

    def __init__(self, response: HttpResponseBase) -> None:
        super().__init__(response.status_code)
        self.response = response


@dataclass
class _Call:
    """One request through the cache; `response` is set only when the handler ran (a miss)."""

    view: object
    request: Request
    args: tuple[Any, ...]
    kwargs: dict[str, Any]
    handler: Callable[..., HttpResponseBase]
    response: HttpResponseBase | None = field(default=None)


class ResponseCache:
    """The cache of one view handler: builds the key and tags of a request, serves hits, stores 200s."""

    def __init__(
        self,
        *,
        key_prefix: str,
        ttl: float,
        tags: Callable[[_Call], Iterable[str]] | None,
        scope: Callable[[_Call], object],
        lock: bool,
    ) -> None:
        self.key_prefix = key_prefix
        self.scope = scope
        self.tags = tags
        self._fill = cached(
            key_prefix=key_prefix,
            ttl=ttl,
            key_builder=self.key,
            tags=tags,
            lock=lock,
        )(self._compute)

    def key(self, call: _Call) -> str:
        request = call.request
        # Sorted by name, each name's values in the order sent (their order can matter to the view).
        query = sorted(request.query_params.lists())
        parts: dict[str, object] = {"caller": self.scope(call)}
        if query:
            parts["q"] = query
        return cache_key(self.key_prefix, request.path, **parts)

    @staticmethod
    def _compute(call: _Call) -> CachedBody:
        response = call.handler(call.request, *call.args, **call.kwargs)
        call.response = response
        if response.status_code != 200 or not isinstance(response, Response):
            raise _NotCacheable(response)
        headers = tuple((name, value) for name, value in response.items() if name.lower() not in _UNCACHED_HEADERS)
        return CachedBody(data=response.data, headers=headers)

    def respond(
        self,
        view: object,
        request: Request,
        args: tuple[Any, ...],
        kwargs: dict[str, Any],
        handler: Callable[..., HttpResponseBase],
    ) -> HttpResponseBase:
        if request.method not in _CACHEABLE_METHODS:
            return handler(request, *args, **kwargs)
        call = _Call(view=view, request=request, args=args, kwargs=kwargs, handler=handler)
        try:
            body = self._fill(call)
        except _NotCacheable as uncacheable:
            return uncacheable.response
        if call.response is not None:  # the handler ran: serve its own response object
            call.response[CACHE_STATUS_HEADER] = "miss"
            return call.response
        response = Response(body.data, status=200, headers=dict(body.headers))
        response[CACHE_STATUS_HEADER] = "hit"
        return response


def cache_response(
    *,
    key_prefix: str,
    ttl: float = 60,
    tags: TagsOf | None = None,
    scope: ScopeOf = caller_scope,
    lock: bool = False,
) -> Callable[[Handler], Handler]:
    """Cache the 200 responses of a view's `get` handler (see the module docstring).

    tags: called as `tags(request, **url_kwargs)` before the handler runs; returns the entry's tags.
    scope: called with the request; what it returns goes into the key (default `caller_scope`).
        Return a constant only when the body is the same for everyone who passes the permission
        check in the tenant: the entry is then shared by all of them.
    lock: stampede protection, as for `@cached`.
    """
    cache = ResponseCache(
        key_prefix=key_prefix,
        ttl=ttl,
        tags=(lambda call: tags(call.request, **call.kwargs)) if tags is not None else None,
        scope=lambda call: scope(call.request),
        lock=lock,
    )

    def decorate(handler: Handler) -> Handler:
        def get(view: object, request: Request, *args: Any, **kwargs: Any) -> HttpResponseBase:
            return cache.respond(view, request, args, kwargs, lambda *a, **kw: handler(view, *a, **kw))

        get.__name__, get.__qualname__, get.__doc__ = handler.__name__, handler.__qualname__, handler.__doc__
        get.__module__ = handler.__module__
        return get

    return decorate


class _GetHandler(Protocol):
    def get(self, request: Request, *args: Any, **kwargs: Any) -> HttpResponseBase: ...


class CachedResponseMixin:
    """Caches the `get` of the view it precedes in the bases (e.g. a generic `RetrieveAPIView`).

    class ReportDetail(CachedResponseMixin, RetrieveAPIView):
        cache_key_prefix = "report-view"
        cache_ttl = 60

        def get_cache_tags(self, request, **kwargs): return [f"report:{kwargs['pk']}"]
    """

    cache_key_prefix: ClassVar[str]
    cache_ttl: ClassVar[float] = 60
    cache_lock: ClassVar[bool] = False
    _response_cache: ClassVar[ResponseCache]

    def __init_subclass__(cls, **kwargs: Any) -> None:
        super().__init_subclass__(**kwargs)
        prefix = getattr(cls, "cache_key_prefix", None)
        if not prefix:
            return  # an abstract base: its concrete subclasses get their own cache
        # One cache (and one metrics label) per view class, built once at import.
        cls._response_cache = ResponseCache(
            key_prefix=prefix,
            ttl=cls.cache_ttl,
            tags=lambda call: cast("CachedResponseMixin", call.view).get_cache_tags(call.request, **call.kwargs),
            scope=lambda call: cast("CachedResponseMixin", call.view).get_cache_scope(call.request),
            lock=cls.cache_lock,
        )

    def get_cache_tags(self, request: Request, **kwargs: Any) -> Iterable[str]:
        """The tags of this request's entry, from the request and the URL kwargs (before the view runs)."""
        return ()

    def get_cache_scope(self, request: Request) -> object:
        """What separates callers in the key; see `caller_scope` and `cache_response(scope=...)`."""
        return caller_scope(request)

    def get(self, request: Request, *args: Any, **kwargs: Any) -> HttpResponseBase:
        parent: _GetHandler = super()  # type: ignore[assignment]
        cache: ResponseCache | None = getattr(type(self), "_response_cache", None)
        if cache is None:
            raise TypeError(f"{type(self).__name__} uses CachedResponseMixin but sets no cache_key_prefix")
        return cache.respond(self, request, args, kwargs, parent.get)

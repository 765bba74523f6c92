"""`ApiRequestMiddleware`: refusals Django makes before any view, answered as problems on API paths.

A Host outside ALLOWED_HOSTS raises `DisallowedHost` at the first `request.get_host()`
(CommonMiddleware): Django answers that with an HTML page (the debug page under DEBUG,
where `handler400` is never called). Checked here first, an API caller gets a 400
problem+json instead. Query parameters go through the validator the body fields use
(`apps.core.validators`): a NUL in any of them is a 400 naming the parameter, whichever
view, filter or pagination would have read it. So is a parameter that is not UTF-8 (Django
would read it with U+FFFD in place of the bytes) and one given twice: which of two values
counts differs between a proxy, a cache and this service, so none is picked.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from urllib.parse import unquote_to_bytes

from django.core.exceptions import DisallowedHost, ValidationError
from django.http import HttpRequest, HttpResponseBase

from apps.core.api.problems import bad_request, is_api_path, problem_response
from apps.core.validators import validate_storable_text

__all__ = ["ApiRequestMiddleware"]


class ApiRequestMiddleware:
    def __init__(self, get_response: Callable[[HttpRequest], HttpResponseBase]) -> None:
        self.get_response = get_response

    def __call__(self, request: HttpRequest) -> HttpResponseBase:
        if is_api_path(request.path):
            refusal = self._refusal(request)
            if refusal is not None:
                return refusal
        return self.get_response(request)

    @staticmethod
    def _refusal(request: HttpRequest) -> HttpResponseBase | None:
        try:
            request.get_host()
        except DisallowedHost as error:
            return bad_request(request, error)
        errors: dict[str, list[str]] = {name: ["Not UTF-8 text."] for name in _undecodable(request)}
        for name, values in request.GET.lists():
            try:
                validate_storable_text([name, *values])
            except ValidationError as error:
                errors[name] = list(error.messages)
            if len(values) > 1:
                errors.setdefault(name, []).append(f"Given {len(values)} times; send it once.")
        if errors:
            return problem_response(400, "A query parameter is invalid; see errors.", code="invalid", errors=errors)
        return None


def _undecodable(request: HttpRequest) -> Iterator[str]:
    """The names of the query parameters whose percent-decoded bytes are not UTF-8."""
    # The WSGI environ holds the raw query as ISO-8859-1 text, one character per byte.
    raw = request.META.get("QUERY_STRING", "").encode("iso-8859-1", errors="replace")
    for pair in raw.split(b"&"):
        name = pair.partition(b"=")[0]
        try:
            unquote_to_bytes(pair.replace(b"+", b" ")).decode()
        except UnicodeDecodeError:
            yield unquote_to_bytes(name).decode(errors="replace") or "?"

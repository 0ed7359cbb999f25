"""Route matching: first match wins, whole path segments, canonical hosts."""

import pytest

from proxy.config.schema import Route
from proxy.routing import Router


def route(name: str, **match: object) -> Route:
    return Route.model_validate(
        {"name": name, "to": "http://127.0.0.1:9", "public": True, "match": match}
    )


ROUTER = Router(
    [
        route("admin", path="/admin/", methods=["GET", "post"]),
        route("api", host="api.example.com", path="/"),
        route("wild", host="*.tenants.example.com", path="/"),
        route("ported", host="example.com:8443", path="/"),
        route("public", path="/public"),
        route("rest", path="/"),
    ]
)


@pytest.mark.parametrize(
    ("host", "path", "method", "expected"),
    [
        ("x", "/admin/", "GET", "admin"),
        ("x", "/admin", "GET", "admin"),
        ("x", "/admin/users", "POST", "admin"),
        ("x", "/admin/users", "DELETE", "rest"),
        ("x", "/administrator", "GET", "rest"),
        ("api.example.com", "/admin/", "GET", "admin"),
        ("api.example.com", "/v1", "GET", "api"),
        ("api.example.com:8080", "/v1", "GET", "api"),
        ("evil-api.example.com", "/v1", "GET", "rest"),
        ("a.tenants.example.com", "/", "GET", "wild"),
        ("a.b.tenants.example.com", "/", "GET", "rest"),
        ("tenants.example.com", "/", "GET", "rest"),
        ("example.com:8443", "/", "GET", "ported"),
        ("example.com", "/", "GET", "rest"),
        ("x", "/public", "GET", "public"),
        ("x", "/public/a", "GET", "public"),
        ("x", "/publicity", "GET", "rest"),
    ],
)
def test_first_match_wins(host: str, path: str, method: str, expected: str) -> None:
    found = ROUTER.match(host, path, method)
    assert found is not None
    assert found.route.name == expected


def test_no_route() -> None:
    router = Router([route("only", path="/only/")])
    assert router.match("x", "/other", "GET") is None

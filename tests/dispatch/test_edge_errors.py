"""Only the HTTP edge speaks HTTP: no module below it imports `ApiError` (the service raises domain errors)."""

from __future__ import annotations

from tests.test_layers import MODULES, _all_imports

#: The modules that answer requests; everything else raises domain errors that `answer_for` maps.
HTTP_EDGE = frozenset({"dispatch.http", "dispatch.errors_http", "dispatch.live", "dispatch.geo_http",
                       "dispatch.centers_http", "dispatch.sim_http", "consoles.http"})


def _speaks_http(path) -> bool:
    return "ApiError" in path.read_text(encoding="utf-8")


def test_no_module_below_the_edge_raises_or_imports_api_error() -> None:
    offenders = sorted(m for m, path in MODULES.items() if m not in HTTP_EDGE and _speaks_http(path))
    assert offenders == []


def test_no_module_below_the_edge_imports_the_error_table() -> None:
    offenders = sorted({imp.where() for imp in _all_imports()
                        if imp.target.startswith("dispatch.errors_http") and imp.module not in HTTP_EDGE})
    assert offenders == []


def test_every_domain_error_of_the_service_has_an_answer() -> None:
    import inspect

    from centers import errors as centers_errors
    from dispatch import errors as dispatch_errors
    from dispatch import store
    from dispatch.errors_http import answer_for

    classes = [c for mod in (dispatch_errors, centers_errors) for _, c in inspect.getmembers(mod, inspect.isclass)
               if issubclass(c, Exception) and c.__module__ == mod.__name__]
    classes += [store.StoreError, store.IdempotencyConflict]
    for cls in classes:
        try:
            error = cls("x: what is wrong")
        except TypeError:  # errors with a field, a code or a retry time
            params = list(inspect.signature(cls).parameters)
            args = {"field": "x", "code": "c", "message": "x: what is wrong", "retry_after_s": 1, "key": "k",
                    "expected_seq": 1, "last_seq": 2}
            error = cls(*[args[p] for p in params if p in args and p not in ("key",)],
                        **({"key": "k"} if "key" in params else {}))
        answer = answer_for(error)
        assert answer is not None and 400 <= answer.status < 600, cls

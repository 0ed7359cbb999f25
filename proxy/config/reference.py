"""The configuration reference (docs/configuration.md), rendered from the config model.

The field descriptions on ``proxy.config.schema`` are the single source: ``make docs``
writes the page and ``tests/test_docs.py`` fails when the committed page drifts. Run as
``python -m proxy.config.reference [--check] [PATH]``; never imported by the proxy itself.
"""

from __future__ import annotations

import sys
import types
import typing
from collections.abc import Iterator
from pathlib import Path
from typing import Any, Literal

from pydantic import BaseModel
from pydantic.fields import FieldInfo
from pydantic_core import PydanticUndefined

from proxy.config import schema
from proxy.config.units import parse_duration, parse_size

PAGE = Path(__file__).resolve().parents[2] / "docs" / "configuration.md"

_HEADER = """\
# Configuration reference

<!-- Generated from proxy/config/schema.py by `make docs`; do not edit by hand. -->

Every key of the YAML file, with its type, default and meaning. How the file is read
(`${VAR}`, `*_file` secrets, units, unknown keys), the access rules, verified emails and
what reloads are described in [config-guide.md](config-guide.md), with an annotated example.

Types: *duration* is `100ms`, `30s`, `5m`, `8h`, `1d` (a bare number is seconds); *size*
is `64KiB`, `10MiB`, `1GiB` (binary) or `64KB`, `10MB`, `1GB` (decimal; a bare number is
bytes); *CIDR* is an address or range such as `10.0.0.0/8`. `[]` in a key path is any
element of a list.
"""

# Models rendered once in their own section instead of inline (Rule nests itself).
_SECTIONS: dict[type[BaseModel], str] = {schema.Rule: "Rule"}


def _validators(meta: list[Any]) -> set[Any]:
    return {getattr(m, "func", None) for m in meta}


def _type_name(tp: Any, meta: list[Any] | None = None) -> str:
    funcs = _validators(list(meta or []))
    if typing.get_origin(tp) is typing.Annotated:
        inner, *extra = typing.get_args(tp)
        return _type_name(inner, [*(meta or []), *extra])
    if parse_duration in funcs:
        return "duration"
    if parse_size in funcs:
        return "size"
    if getattr(schema, "_address", None) in funcs:
        return "host:port"
    if getattr(schema, "_origin", None) in funcs:
        return "origin URL"
    if getattr(schema, "_network", None) in funcs:
        return "CIDR"
    origin = typing.get_origin(tp)
    if origin is Literal:
        return " \\| ".join(f"`{a}`" for a in typing.get_args(tp))
    if origin in (typing.Union, types.UnionType):
        args = [a for a in typing.get_args(tp) if a is not type(None)]
        name = " or ".join(_type_name(a) for a in args)
        return name + (" or null" if len(args) < len(typing.get_args(tp)) else "")
    if origin is tuple:
        return f"list of {_type_name(typing.get_args(tp)[0])}"
    if origin is list:
        return f"list of {_type_name(typing.get_args(tp)[0])}"
    if origin is dict:
        return "mapping"
    if isinstance(tp, type) and issubclass(tp, BaseModel):
        return _SECTIONS.get(tp, "mapping")
    return {str: "string", int: "integer", bool: "boolean", float: "number"}.get(tp, str(tp))


def _duration(seconds: float) -> str:
    for unit, size in (("h", 3600), ("m", 60), ("s", 1)):
        if seconds >= size and seconds % size == 0:
            return f"{int(seconds // size)}{unit}"
    return f"{round(seconds * 1000)}ms"


def _size(n: int) -> str:
    for unit, size in (("GiB", 1 << 30), ("MiB", 1 << 20), ("KiB", 1 << 10)):
        if n >= size and n % size == 0:
            return f"{n // size}{unit}"
    return str(n)


def _default(field: FieldInfo) -> str:
    if field.default is PydanticUndefined:
        return "required"
    value = field.default
    kind = _type_name(field.annotation, list(field.metadata))
    if kind.startswith("duration") and isinstance(value, float | int):
        return f"`{_duration(value)}`"
    if kind.startswith("size") and isinstance(value, int):
        return f"`{_size(value)}`"
    if value is None:
        return "none"
    if isinstance(value, BaseModel):
        return "see below"
    if isinstance(value, tuple):
        return "`[" + ", ".join(str(v) for v in value) + "]`"
    if isinstance(value, bool):
        return f"`{str(value).lower()}`"
    return f"`{value}`"


def _nested(tp: Any) -> tuple[type[BaseModel] | None, bool]:
    """The model a field holds, if any, and whether it is a list of them."""
    if typing.get_origin(tp) in (typing.Union, types.UnionType):
        for arg in typing.get_args(tp):
            found = _nested(arg)
            if found[0] is not None:
                return found
        return None, False
    if typing.get_origin(tp) is tuple:
        model, _ = _nested(typing.get_args(tp)[0])
        return model, True
    if isinstance(tp, type) and issubclass(tp, BaseModel):
        return tp, False
    return None, False


def _rows(model: type[BaseModel], prefix: str) -> Iterator[tuple[str, str, str, str]]:
    for name, field in model.model_fields.items():
        key = prefix + (field.alias or name)
        description = field.description or ""
        yield key, _type_name(field.annotation, list(field.metadata)), _default(field), description
        sub, is_list = _nested(field.annotation)
        if sub is not None and sub not in _SECTIONS:
            yield from _rows(sub, key + ("[]." if is_list else "."))


def _table(rows: Iterator[tuple[str, str, str, str]]) -> list[str]:
    lines = ["| key | type | default | description |", "|---|---|---|---|"]
    for key, tp, default, description in rows:
        cell = description.replace("|", r"\|")
        lines.append(f"| `{key}` | {tp} | {default} | {cell} |")
    return lines


def render() -> str:
    """The whole page, deterministic: the same model always renders the same bytes."""
    out = [_HEADER, "## Keys", "", *_table(_rows(schema.Config, "")), ""]
    for model, title in _SECTIONS.items():
        doc = (model.__doc__ or "").strip().splitlines()[0]
        out += [f"## {title}", "", f"Used by `routes[].allow` and `routes[].deny`. {doc}", ""]
        out += [*_table(_rows(model, "")), ""]
    return "\n".join(out)


def main(argv: list[str]) -> int:
    check = "--check" in argv
    paths = [a for a in argv if not a.startswith("--")]
    page = Path(paths[0]) if paths else PAGE
    text = render()
    if check:
        if not page.exists() or page.read_text(encoding="utf-8") != text:
            print(f"{page} is out of date with proxy/config/schema.py: run make docs")
            return 1
        return 0
    page.write_text(text, encoding="utf-8")
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))

"""Fill in what the file points at: ``${VAR}`` from the environment, ``X_file`` secrets.

Runs on the plain data read from YAML, before the schema sees it:

* ``${VAR}`` and ``${VAR:-default}`` inside string values are replaced (the default
  applies when the variable is unset or empty, as in POSIX sh §2.6.2); ``$${`` is a
  literal ``${``. Keys are never substituted.
* a key ``X_file`` becomes ``X`` holding the file's text minus one trailing newline,
  so secrets can live in mounted files (Docker and Kubernetes secrets).
* keys the schema itself declares as paths (``key_files``, ``ca_file``) are kept, with
  relative paths made absolute against the config file's directory.

The environment arrives as a mapping; this module never reads ``os.environ``.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path

from proxy.config.errors import Loc, Problem, format_path, problem
from proxy.config.fields import path_keys

_REFERENCE = re.compile(r"\$\$\{|\$\{([^}]*)\}|\$\{")
_NAME = re.compile(r"^([A-Za-z_][A-Za-z0-9_]*)(?::-(.*))?$", re.DOTALL)
_FILE_SUFFIX = "_file"
# Mappings whose keys are the operator's data, not settings (claim names).
_DATA_KEYS = frozenset({"claims"})
MAX_SECRET_BYTES = 64 * 1024  # a secret file larger than this is a mistake, not a key


@dataclass
class Resolver:
    """One pass over the data; collects every problem instead of stopping at the first."""

    env: Mapping[str, str]
    base_dir: Path
    problems: list[Problem] = field(default_factory=list)
    # Paths whose values could not be filled in; later checks skip them so one
    # mistake is reported once, not again as "required" or "malformed".
    spoiled: set[str] = field(default_factory=set)
    # Every secret file named (read or not): a reload watches them for changes.
    files: list[str] = field(default_factory=list)

    def fail(self, loc: Loc, message: str, spoils: Loc | None = None) -> None:
        self.problems.append(problem(loc, message))
        self.spoiled.add(format_path(loc if spoils is None else spoils))

    def resolve(self, node: object, loc: Loc = ()) -> object:
        if isinstance(node, str):
            return self.substitute(node, loc)
        if isinstance(node, list):
            return [self.resolve(item, (*loc, i)) for i, item in enumerate(node)]
        if isinstance(node, dict):
            return self.resolve_mapping(node, loc)
        return node

    def resolve_mapping(self, node: dict[object, object], loc: Loc) -> dict[object, object]:
        out: dict[object, object] = {}
        is_data = bool(loc) and loc[-1] in _DATA_KEYS
        for key, value in node.items():
            here = (*loc, key) if isinstance(key, str | int) else loc
            resolved = self.resolve(value, here)
            if is_data or not isinstance(key, str):
                out[key] = resolved
            elif key in path_keys():
                out[key] = self.absolute(resolved)
            elif key.endswith(_FILE_SUFFIX):
                self.read_secret(node, out, key, resolved, loc)
            else:
                out[key] = resolved
        return out

    def substitute(self, text: str, loc: Loc) -> str:
        def replace(m: re.Match[str]) -> str:
            if m.group(0) == "$${":
                return "${"
            if m.group(1) is None:
                self.fail(loc, "unterminated ${ (write $${ for a literal)")
                return ""
            return self.lookup(m.group(1), loc)

        return _REFERENCE.sub(replace, text)

    def lookup(self, body: str, loc: Loc) -> str:
        m = _NAME.match(body)
        if m is None:
            self.fail(loc, f"malformed reference ${{{body}}}")
            return ""
        name, default = m.group(1), m.group(2)
        value = self.env.get(name)
        if value:
            return value
        if default is not None:
            return default
        if value is None:
            self.fail(loc, f"environment variable {name} is not set")
        return ""

    def absolute(self, value: object) -> object:
        if isinstance(value, str):
            return str(self.base_dir / value) if value else value
        if isinstance(value, list):
            return [self.absolute(v) for v in value]
        return value

    def read_secret(
        self,
        node: dict[object, object],
        out: dict[object, object],
        key: str,
        path: object,
        loc: Loc,
    ) -> None:
        target = key.removesuffix(_FILE_SUFFIX)
        here = (*loc, key)
        if target in node:
            self.fail(here, f"give either {target} or {key}, not both")
        elif not isinstance(path, str) or not path:
            self.fail(here, "expected the path of a file", spoils=(*loc, target))
            out[target] = ""
        else:
            self.files.append(str(self.base_dir / path))
            out[target] = self.read_file(self.base_dir / path, here, (*loc, target))

    def read_file(self, path: Path, loc: Loc, target: Loc) -> str:
        try:
            with path.open("rb") as f:
                data = f.read(MAX_SECRET_BYTES + 1)
        except OSError as exc:
            self.fail(loc, f"cannot read {path}: {exc.strerror or exc}", target)
            return ""
        if len(data) > MAX_SECRET_BYTES:
            self.fail(loc, f"{path} is larger than {MAX_SECRET_BYTES} bytes", target)
            return ""
        try:
            text = data.decode("utf-8")
        except UnicodeDecodeError:
            self.fail(loc, f"{path} is not UTF-8 text", target)
            return ""
        return text.removesuffix("\n").removesuffix("\r")


@dataclass(frozen=True)
class Resolved:
    data: dict[object, object]
    problems: list[Problem]
    spoiled: frozenset[str]  # paths (see ``format_path``) left unfilled by a problem
    files: tuple[str, ...] = ()  # the ``X_file`` secrets named


def resolve(data: dict[object, object], *, env: Mapping[str, str], base_dir: Path) -> Resolved:
    """``data`` with references filled in, and every problem met on the way."""
    resolver = Resolver(env, base_dir)
    filled = resolver.resolve_mapping(data, ())
    return Resolved(filled, resolver.problems, frozenset(resolver.spoiled), tuple(resolver.files))

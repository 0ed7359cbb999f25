"""YAML text to plain data: safe tags only, and a key given twice is an error.

Plain ``yaml.safe_load`` keeps the last of two equal keys, so a second ``allow:``
under one route would silently replace the first; here every duplicate is reported
with its path (YAML 1.2 §3.2.1.1 requires mapping keys to be unique).
"""

from __future__ import annotations

from collections.abc import Iterator

import yaml

from proxy.config.errors import ConfigError, Problem, format_path

_MERGE_TAG = "tag:yaml.org,2002:merge"
_STR_TAG = "tag:yaml.org,2002:str"
# Aliases let a short file stand for a huge tree ("billion laughs"); no real
# configuration comes near this many values once aliases are expanded.
MAX_VALUES = 100_000


class StrictLoader(yaml.SafeLoader):
    """A safe loader that refuses duplicate mapping keys, naming every one, keys
    that are not text, and aliases that refer to themselves or expand past ``MAX_VALUES``."""

    def __init__(self, stream: str, source: str = "<config>") -> None:
        super().__init__(stream)
        self.source = source

    def get_single_data(self) -> object:
        node = self.get_single_node()
        if node is None:
            return None
        duplicates = list(_duplicates(node, (), set()))
        if duplicates:
            raise ConfigError(duplicates)
        trouble = _expansion_trouble(node)
        if trouble:
            raise ConfigError([Problem(self.source, trouble)])
        return self.construct_document(node)


def read_document(text: str, *, source: str) -> object:
    """Parse ``text``; syntax errors and duplicate keys raise ``ConfigError``."""
    try:
        # The loader's constructor already reads the stream, and refuses characters
        # YAML does not allow (YAML 1.2 §5.1, e.g. control bytes) right there.
        loader = StrictLoader(text, source)
    except yaml.YAMLError as exc:  # one line per problem: the message spans several
        raise ConfigError(
            [Problem(source, f"not valid YAML: {' '.join(str(exc).split())}")]
        ) from None
    try:
        return loader.get_single_data()
    except yaml.MarkedYAMLError as exc:
        raise ConfigError([_syntax_problem(exc, source)]) from None
    except yaml.YAMLError as exc:
        raise ConfigError([Problem(source, f"not valid YAML: {exc}")]) from None
    finally:
        loader.dispose()


def _expansion_trouble(root: yaml.Node) -> str | None:
    """Why the document's aliases cannot be expanded, or None when they can."""
    count = 0
    # (node, ids of its ancestors): an alias to an ancestor is a cycle.
    todo: list[tuple[yaml.Node, frozenset[int]]] = [(root, frozenset())]
    while todo:
        node, ancestors = todo.pop()
        count += 1
        if count > MAX_VALUES:
            return f"more than {MAX_VALUES} values once aliases are expanded"
        if id(node) in ancestors:
            return "an alias refers to a value that contains it"
        children = _children(node)
        if children:
            inner = ancestors | {id(node)}
            todo.extend((child, inner) for child in children)
    return None


def _children(node: yaml.Node) -> list[yaml.Node]:
    if isinstance(node, yaml.SequenceNode):
        return list(node.value)
    if isinstance(node, yaml.MappingNode):
        return [n for pair in node.value for n in pair]
    return []


def _syntax_problem(exc: yaml.MarkedYAMLError, source: str) -> Problem:
    mark = exc.problem_mark or exc.context_mark
    where = f"{source} line {mark.line + 1}, column {mark.column + 1}" if mark else source
    what = " ".join(str(p) for p in (exc.context, exc.problem) if p)
    return Problem(where, f"not valid YAML: {what}")


def _duplicates(node: yaml.Node, loc: tuple[str | int, ...], seen: set[int]) -> Iterator[Problem]:
    # Anchors and aliases share one node: visit each once, so a file built from
    # nested aliases cannot make this walk exponential.
    if id(node) in seen:
        return
    seen.add(id(node))
    if isinstance(node, yaml.SequenceNode):
        for index, item in enumerate(node.value):
            yield from _duplicates(item, (*loc, index), seen)
    elif isinstance(node, yaml.MappingNode):
        yield from _duplicate_keys(node, loc, seen)


def _duplicate_keys(
    node: yaml.MappingNode, loc: tuple[str | int, ...], seen: set[int]
) -> Iterator[Problem]:
    lines: dict[str, int] = {}
    for key_node, value_node in node.value:
        if key_node.tag == _MERGE_TAG:
            continue
        line = key_node.start_mark.line + 1
        if not isinstance(key_node, yaml.ScalarNode) or key_node.tag != _STR_TAG:
            # Every key of this format is a name; YAML would make `~`, `1.5`, `on`
            # or `[a]` a null, number, boolean or list, which no path can name.
            shown = key_node.value if isinstance(key_node, yaml.ScalarNode) else "?"
            yield Problem(
                format_path((*loc, str(shown))),
                f"line {line}: a key must be text; quote it if it is meant as one",
            )
            continue
        key = str(key_node.value)
        if key in lines:
            yield Problem(
                format_path((*loc, key)), f"key given twice (lines {lines[key]} and {line})"
            )
        else:
            lines[key] = line
        yield from _duplicates(value_node, (*loc, key), seen)

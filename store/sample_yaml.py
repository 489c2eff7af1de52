"""Reading one sample_data/*.yaml file (or the same keys as JSON): where the files are, and a
checker whose problems name the file, the line and the key. yaml.YAMLError, json errors and
unreadable files become SampleDataError here. The sample loaders and `syncdesk import` share it.
"""

from __future__ import annotations

import json
import re
from collections.abc import Iterator
from importlib import resources
from pathlib import Path
from typing import Any

import yaml

from store.errors import SampleDataError

_PATH_PART = re.compile(r"([^.\[\]]+)|\[(\d+)\]")


def sample_dir() -> Path:
    """The sample_data folder shipped with syncdesk."""
    return Path(str(resources.files("sample_data")))


class SampleDoc:
    """A parsed YAML (or, named *.json, JSON) file that reports problems as
    'file:line: path.to.key: what is wrong'."""

    def __init__(self, path: Path) -> None:
        self.name = path.name
        self._nodes: Any = None
        try:
            self.text = path.read_text(encoding="utf-8")
        except OSError as exc:
            raise SampleDataError(f"{path}: cannot read ({exc.strerror}).") from exc
        except UnicodeDecodeError as exc:
            raise SampleDataError(f"{path.name}: not UTF-8 text ({exc.reason}).") from exc
        if path.suffix.lower() == ".json":
            try:
                self.data = json.loads(self.text)
            except json.JSONDecodeError as exc:
                raise SampleDataError(
                    f"{path.name}: line {exc.lineno}, column {exc.colno}: invalid JSON: {exc.msg}."
                ) from exc
            return
        try:
            self.data = yaml.safe_load(self.text)
        except yaml.YAMLError as exc:
            mark = getattr(exc, "problem_mark", None)
            where = f" line {mark.line + 1}, column {mark.column + 1}" if mark else ""
            problem = getattr(exc, "problem", None) or str(exc).splitlines()[0]
            raise SampleDataError(f"{path.name}:{where}: invalid YAML: {problem}.") from exc

    def fail(self, key: str, problem: str) -> SampleDataError:
        return SampleDataError(f"{self.name}:{self.line(key)}: {key}: {problem}.")

    def line(self, key: str) -> int:
        """The 1-based line of a key path such as `orgs[2].xero.tenant`: the deepest part of it
        the file has (a missing key is reported at the mapping that lacks it)."""
        if self._nodes is None:
            try:  # JSON is YAML enough for its lines; only read when a problem is reported
                self._nodes = yaml.compose(self.text, Loader=yaml.SafeLoader) or False
            except yaml.YAMLError:
                self._nodes = False
        node, line = self._nodes, 1
        if node is False:
            return line
        line = node.start_mark.line + 1
        for name, index in _PATH_PART.findall(key):
            if isinstance(node, yaml.MappingNode) and name:
                found = next((kv for kv in node.value if str(kv[0].value) == name), None)
                if found is None:
                    break
                line, node = found[0].start_mark.line + 1, found[1]
            elif isinstance(node, yaml.SequenceNode) and index and int(index) < len(node.value):
                node = node.value[int(index)]
                line = node.start_mark.line + 1
            else:
                break
        return line

    def mapping(self, value: Any, key: str) -> dict[str, Any]:
        if not isinstance(value, dict):
            raise self.fail(key, f"expected a mapping, got {_kind(value)}")
        return value

    def seq(self, value: Any, key: str) -> list[Any]:
        if not isinstance(value, list):
            raise self.fail(key, f"expected a list, got {_kind(value)}")
        return value

    def get(
        self,
        obj: dict[str, Any],
        key: str,
        path: str,
        typ: type | tuple[type, ...],
        default: Any = ...,
        choices: tuple[Any, ...] | None = None,
    ) -> Any:
        where = f"{path}.{key}" if path else key
        if key not in obj or obj[key] is None:
            if default is ...:
                raise self.fail(where, "missing")
            return default
        value = obj[key]
        if typ is float and isinstance(value, int) and not isinstance(value, bool):
            value = float(value)
        ok = isinstance(value, typ) and not (isinstance(value, bool) and typ in (int, float))
        if not ok:
            raise self.fail(where, f"expected {_typename(typ)}, got {_kind(value)} {value!r}")
        if choices is not None and value not in choices:
            raise self.fail(where, f"must be one of {', '.join(map(str, choices))} (got {value!r})")
        return value

    def version(self) -> None:
        top = self.mapping(self.data, "top level")
        version = self.get(top, "version", "", int)
        if version != 1:
            raise self.fail("version", f"this syncdesk reads version 1 (got {version})")

    def items(
        self, value: Any, key: str, allowed: set[str]
    ) -> Iterator[tuple[str, dict[str, Any]]]:
        """Each entry of a list of mappings, with its path, checked for unknown keys."""
        for i, raw in enumerate(self.seq(value, key)):
            at = f"{key}[{i}]"
            item = self.mapping(raw, at)
            self.unknown_keys(item, allowed, at)
            yield at, item

    def unknown_keys(self, obj: dict[str, Any], allowed: set[str], path: str) -> None:
        extra = sorted(set(obj) - allowed)
        if extra:
            raise self.fail(
                f"{path}.{extra[0]}", f"unknown key (allowed: {', '.join(sorted(allowed))})"
            )


def _kind(value: Any) -> str:
    return {
        dict: "a mapping",
        list: "a list",
        str: "text",
        bool: "true/false",
        int: "a number",
        float: "a number",
        type(None): "nothing",
    }.get(type(value), "a value")


def _typename(typ: type | tuple[type, ...]) -> str:
    types = typ if isinstance(typ, tuple) else (typ,)
    names = {
        str: "text",
        int: "a whole number",
        float: "a number",
        bool: "true/false",
        dict: "a mapping",
        list: "a list",
    }
    return " or ".join(names.get(t, t.__name__) for t in types)

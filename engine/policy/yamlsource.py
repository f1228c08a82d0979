"""YAML text → plain Python data with the 1-based line:col of every key and value.

ruamel.yaml in round-trip mode keeps positions and raises on duplicate keys. It does not execute
``!!python/...`` tags but keeps them as tagged data, so every explicit tag is rejected here: a
policy is plain data and a tag is either a mistake or an attack.

Whatever the bytes, parsing ends in data or in positioned issues, never in another exception
(checked against every case of the YAML test suite): complex keys (a list or mapping as a key)
and merge keys (``<<``) are refused where they stand, a ``%YAML`` directive other than 1.2 is
refused at the directive, nesting stops at `MAX_DEPTH`, the loader reads no comments (the
round-trip scanner's comment handling has crashes of its own, and only `alluse policy fmt` needs
comments), and ruamel's warnings (a reused anchor) become lint warnings instead of lines on the
terminal that name ruamel's source files.
"""

from __future__ import annotations

import functools
import re
import warnings
from dataclasses import dataclass, field
from typing import Any

from ruamel.yaml import YAML
from ruamel.yaml.comments import CommentedMap, CommentedSeq, TaggedScalar
from ruamel.yaml.composer import Composer
from ruamel.yaml.error import MarkedYAMLError, YAMLError
from ruamel.yaml.events import MappingStartEvent, ScalarEvent, SequenceStartEvent
from ruamel.yaml.nodes import MappingNode
from ruamel.yaml.scanner import Scanner

from alluse.engine.errors import PolicyIssue

Path_ = tuple[str | int, ...]

# A 1 MB file can still expand into billions of values through nested aliases ("billion
# laughs"): building the plain data stops past this many values, far above any real policy.
MAX_VALUES = 50_000
# Nesting deeper than this is no policy (the deepest default file nests 6 levels); it also keeps
# the recursive composer and `_plain` far from Python's recursion limit.
MAX_DEPTH = 40


class _TooManyValues(Exception):
    def __init__(self, path: Path_) -> None:
        self.path = path


@dataclass(slots=True)
class YamlDoc:
    file: str
    data: Any
    values: dict[Path_, tuple[int, int]] = field(default_factory=dict)  # path → value line:col
    keys: dict[Path_, tuple[int, int]] = field(default_factory=dict)  # path → key line:col
    quoted: set[Path_] = field(default_factory=set)  # scalars written in quotes
    count: int = 0  # values built so far, against MAX_VALUES

    def where(self, path: Path_, *, key: bool = False) -> tuple[int, int]:
        """Best position for ``path``: the key or value, else the nearest ancestor."""
        table = self.keys if key else self.values
        p = tuple(path)
        while p:
            if p in table:
                return table[p]
            if p in self.values:
                return self.values[p]
            p = p[:-1]
        return self.values.get((), (1, 1))


class _TagsFound(Exception):
    def __init__(self, tags: list[tuple[int, int, str]]) -> None:
        self.tags = tags


class _Refused(Exception):
    """Valid YAML that a policy may not use, found while composing: where and why."""

    def __init__(self, line: int, col: int, message: str, code: str) -> None:
        self.line, self.col, self.message, self.code = line, col, message, code


class _NoTagComposer(Composer):
    """Records every explicit tag while composing and refuses the document before construction.

    Standard tags (``!!binary``, ``!!set``, ``!!omap``, ``!!str``…) are resolved by the constructor
    into values that carry no tag any more, and ``!!omap`` breaks the position tables, so tags are
    caught here, on the events, each at its own line:col; nothing tagged is ever constructed.

    Keys are checked here too, where their position is known: a list or mapping as a key
    (``? [a, b]``) cannot be a policy key (and crashes ruamel's constructor when nested), and a
    merge key (``<<: {min: 1}``) copies values that then have no position of their own.
    """

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.explicit_tags: list[tuple[int, int, str]] = []

    def compose_node(self, parent: Any, index: Any) -> Any:
        event = self.parser.peek_event()
        mark = event.start_mark
        tag = getattr(event, "ctag", None)
        if tag is not None and str(tag):
            self.explicit_tags.append((mark.line + 1, mark.column + 1,
                                       str(tag).replace("tag:yaml.org,2002:", "!!")))
        if index is None and isinstance(parent, MappingNode):  # composing a key
            if isinstance(event, MappingStartEvent | SequenceStartEvent):
                raise _Refused(mark.line + 1, mark.column + 1, "mapping keys must be plain "
                               "scalars, not a list or mapping", "yaml-key")
            if isinstance(event, ScalarEvent) and event.value == "<<" and not event.style:
                raise _Refused(mark.line + 1, mark.column + 1, "YAML merge keys ('<<') are not "
                               "allowed: write the values out", "yaml-merge")
        return super().compose_node(parent, index)

    def compose_document(self) -> Any:
        node = super().compose_document()
        if self.explicit_tags:
            raise _TagsFound(self.explicit_tags)
        return node


class _PolicyScanner(Scanner):
    """The plain scanner (no comment tokens), refusing a ``%YAML`` version other than 1.2 at the
    directive (ruamel asserts on 1.3, and 1.1 would read ``yes`` as true and ``010`` as 8)."""

    def scan_directive(self) -> Any:
        token = super().scan_directive()
        if token.name == "YAML" and tuple(token.value) != (1, 2):
            mark = token.start_mark
            version = ".".join(str(v) for v in token.value)
            raise _Refused(mark.line + 1, mark.column + 1, f"YAML {version} is not supported: "
                           "policies are YAML 1.2 (remove the %YAML directive)", "yaml-version")
        return token


def _yaml() -> YAML:
    y = YAML(typ="rt")
    y.Composer = _NoTagComposer
    y.Scanner = _PolicyScanner
    y.preserve_quotes = True
    y.allow_duplicate_keys = False
    y.max_depth = MAX_DEPTH
    return y


_LONG_NUMBER = re.compile(r"\d{4000,}")  # Python refuses to convert past 4300 digits
_SECOND = re.compile(r"second occurrence.*?line (\d+), column (\d+)", re.S)
_IN_FILE = re.compile(r'\s*in "<unicode string>", line \d+, column \d+')


def _warning_issue(file: str, warning: warnings.WarningMessage) -> PolicyIssue:
    """A warning ruamel raised while reading, as a positioned lint warning (no source paths)."""
    text = str(warning.message)
    found = _SECOND.search(text)
    line, col = (int(found.group(1)), int(found.group(2))) if found else (1, 1)
    first = text.strip().splitlines()[0] if text.strip() else type(warning.message).__name__
    return PolicyIssue(file, line, col, f"YAML: {_IN_FILE.sub('', first).strip()}",
                       code="yaml-warning", severity="warning")


def _tag_of(node: Any) -> str | None:
    tag = getattr(node, "tag", None)
    value = getattr(tag, "value", tag) if tag is not None else None
    return value if isinstance(value, str) and value else None


def _plain(node: Any, path: Path_, doc: YamlDoc, issues: list[PolicyIssue]) -> Any:
    doc.count += 1
    if doc.count > MAX_VALUES or len(path) > MAX_DEPTH:  # aliases can nest past the composer's
        raise _TooManyValues(path)
    tag = _tag_of(node)
    if tag is not None:
        line, col = doc.where(path)
        shown = tag.replace("tag:yaml.org,2002:", "!!")
        issues.append(PolicyIssue(doc.file, line, col, f"YAML tag '{shown}' is not allowed: "
                                  "policies are plain data", code="yaml-tag"))
        return None
    if isinstance(node, TaggedScalar):
        return None
    if isinstance(node, CommentedMap):
        out: dict[Any, Any] = {}
        for k in node:
            if not isinstance(k, str | int | float | bool):
                line, col = doc.where(path)
                issues.append(PolicyIssue(doc.file, line, col, "mapping keys must be plain scalars",
                                          code="yaml-key"))
                continue
            try:
                kl, kc = node.lc.key(k)
                vl, vc = node.lc.value(k)
            except (KeyError, TypeError):  # no position of its own: refuse rather than guess
                line, col = doc.where(path)
                issues.append(PolicyIssue(doc.file, line, col, f"key '{k}' has no position of "
                                          "its own (merged?)", code="yaml-key"))
                continue
            key = str(k) if not isinstance(k, bool) else ("true" if k else "false")
            doc.keys[(*path, key)] = (kl + 1, kc + 1)
            doc.values[(*path, key)] = (vl + 1, vc + 1)
            out[key] = _plain(node[k], (*path, key), doc, issues)
        return out
    if isinstance(node, CommentedSeq):
        items = []
        for i, item in enumerate(node):
            try:
                il, ic = node.lc.item(i)
            except (KeyError, TypeError):
                il, ic = (p - 1 for p in doc.where(path))
            doc.values[(*path, i)] = (il + 1, ic + 1)
            items.append(_plain(item, (*path, i), doc, issues))
        return items
    if isinstance(node, bool) or node is None:
        return node
    if isinstance(node, str):
        if type(node).__name__ in ("DoubleQuotedScalarString", "SingleQuotedScalarString"):
            doc.quoted.add(path)
        return str(node)
    if isinstance(node, int):
        return int(node)
    if isinstance(node, float):
        return float(node)
    # dates/timestamps and anything else YAML may construct: keep its text so types fail clearly
    return str(node)


def _unreadable(file: str, exc: Exception) -> PolicyIssue:
    return PolicyIssue(file, 1, 1, f"YAML: the document cannot be read ({type(exc).__name__}: "
                       f"{' '.join(str(exc).split())[:200]})", code="yaml-syntax")


def parse_yaml(file: str, raw: bytes) -> tuple[YamlDoc | None, list[PolicyIssue]]:
    """Parse one policy file. Returns the document (None when unusable) and every issue found.

    Memoised on (name, bytes): ruamel's round-trip parser is pure Python (~15 ms for a 100-line
    file), and a reload after one save re-reads the whole set, so the files that did not change
    are not parsed again. The result depends on nothing else, and callers only read the document.
    """
    doc, issues = _parse_cached(file, raw)
    return doc, list(issues)


@functools.lru_cache(maxsize=64)
def _parse_cached(file: str, raw: bytes) -> tuple[YamlDoc | None, tuple[PolicyIssue, ...]]:
    doc, issues = _parse(file, raw)
    return doc, tuple(issues)


def _parse(file: str, raw: bytes) -> tuple[YamlDoc | None, list[PolicyIssue]]:
    issues: list[PolicyIssue] = []
    if b"\x00" in raw:
        return None, [PolicyIssue(file, 1, 1, "file is binary (contains NUL bytes), not YAML",
                                  code="binary")]
    try:
        text = raw.decode("utf-8")
    except UnicodeDecodeError as exc:
        line = raw[: exc.start].count(b"\n") + 1
        col = exc.start - (raw.rfind(b"\n", 0, exc.start) + 1) + 1
        return None, [PolicyIssue(file, line, col, "file is not valid UTF-8 text", code="encoding")]
    text = text.removeprefix("\ufeff")
    for lineno, text_line in enumerate(text.splitlines(), 1):
        stripped = text_line.lstrip(" ")
        if stripped.startswith("\t"):
            issues.append(PolicyIssue(file, lineno, len(text_line) - len(stripped) + 1,
                                      "tab character in indentation: YAML indents with spaces",
                                      code="yaml-tab"))
    if issues:
        return None, issues
    if not text.strip() or all(not ln.strip() or ln.lstrip().startswith("#")
                               for ln in text.splitlines()):
        return None, [PolicyIssue(file, 1, 1, "file is empty", code="empty")]
    try:
        with warnings.catch_warnings(record=True) as caught:
            warnings.simplefilter("always")
            data = _yaml().load(text)
    except _TagsFound as exc:
        return None, [PolicyIssue(file, line, col, f"YAML tag '{tag}' is not allowed: policies "
                                  "are plain data", code="yaml-tag") for line, col, tag in exc.tags]
    except _Refused as exc:
        return None, [PolicyIssue(file, exc.line, exc.col, exc.message, code=exc.code)]
    except MarkedYAMLError as exc:
        mark = exc.problem_mark or exc.context_mark
        line, col = (mark.line + 1, mark.column + 1) if mark is not None else (1, 1)
        problem = " ".join((exc.problem or exc.context or "invalid YAML").split())
        if type(exc).__name__ == "MaxDepthExceededError":
            problem = f"nested deeper than {MAX_DEPTH} levels"
        if type(exc).__name__ == "DuplicateKeyError":
            problem = problem.replace("found duplicate key", "duplicate key")
            problem = problem.split(" with value")[0]
        return None, [PolicyIssue(file, line, col, f"YAML: {problem}", code="yaml-syntax")]
    except YAMLError as exc:
        return None, [PolicyIssue(file, 1, 1, f"YAML: {' '.join(str(exc).split())}",
                                  code="yaml-syntax")]
    except (RecursionError, MemoryError):
        return None, [PolicyIssue(file, 1, 1, "YAML: the document is nested too deeply",
                                  code="too-large")]
    except ValueError as exc:
        digits = _LONG_NUMBER.search(text)
        if digits is None:
            return None, [_unreadable(file, exc)]
        line = text.count("\n", 0, digits.start()) + 1
        col = digits.start() - (text.rfind("\n", 0, digits.start()) + 1) + 1
        return None, [PolicyIssue(file, line, col, f"a number of {len(digits.group())} digits: "
                                  "no policy value is that long", code="too-large")]
    except Exception as exc:  # a parser bug must still end in a located issue, not a traceback
        return None, [_unreadable(file, exc)]
    issues += [_warning_issue(file, w) for w in caught]
    doc = YamlDoc(file, None)
    doc.values[()] = (1, 1)
    try:
        doc.data = _plain(data, (), doc, issues)
    except _TooManyValues as exc:
        line, col = doc.where(exc.path)
        what = (f"nests deeper than {MAX_DEPTH} levels" if len(exc.path) > MAX_DEPTH else
                f"expands to more than {MAX_VALUES} values")
        return None, [PolicyIssue(file, line, col, f"the document {what} (nested YAML aliases?)",
                                  code="too-large")]
    if not isinstance(doc.data, dict):
        kind = type(doc.data).__name__ if doc.data is not None else "nothing"
        issues.append(PolicyIssue(file, 1, 1, f"a policy file must be a mapping, found {kind}",
                                  code="structure"))
        return None, issues
    return doc, issues

"""The canonical layout of a policy file, keeping every comment: `format_policy(file, text)`.

Canonical means: keys in the order of the file's pydantic model (maps keyed by the user — alert
types, jobs, week modes — keep their order: it can mean something, first match wins), two-space
indentation with list dashes indented under their key, expressions and templates in double
quotes, and no single-quoted strings. Nothing else changes: values, comments and blank lines stay.

Two passes. Reordering works on the text: ruamel attaches a comment to the entry *before* it,
so moving keys in its tree would carry "the comment above ``b``" off with ``a``. Here an entry of
a block mapping is its key line, the lines of its value, and the comment and blank lines
directly above its key; entries move as whole blocks (deepest mappings first, so every position
read from the original text stays valid). Then ruamel's round trip (comments kept) re-indents,
re-quotes and orders the keys of one-line ``{…}`` mappings. Last, the result must read back as
the same data as the input; anything else raises `FormatError` and nothing is written.
"""

from __future__ import annotations

import io
import types
import typing
import warnings
from dataclasses import dataclass
from typing import Any

from pydantic import BaseModel
from ruamel.yaml import YAML
from ruamel.yaml.comments import CommentedMap, CommentedSeq
from ruamel.yaml.scalarstring import DoubleQuotedScalarString, SingleQuotedScalarString

from alluse.engine.policy.common import Expr, Template
from alluse.engine.policy.models import POLICY_FILES, STRATEGY_DIR, StrategyPolicy
from alluse.engine.policy.yamlsource import parse_yaml


class FormatError(ValueError):
    """A file that cannot be formatted: not YAML, or one that would not read back the same."""

    def __init__(self, message: str, line: int = 1, col: int = 1) -> None:
        super().__init__(message)
        self.line, self.col = line, col


def model_for(file: str) -> type[BaseModel] | None:
    """The model of a policy file's top level (None: not a policy file)."""
    if file.startswith(STRATEGY_DIR + "/") and file.count("/") == 1:
        return StrategyPolicy
    return POLICY_FILES.get(file)


# ------------------------------------------------------------------------------ the models


def _unwrap(tp: Any, data: Any) -> Any:
    """Strip Annotated/Optional; pick a union member by the data's ``kind``."""
    for _ in range(10):
        origin = typing.get_origin(tp)
        if origin is typing.Annotated:
            tp = typing.get_args(tp)[0]
        elif origin in (typing.Union, types.UnionType):
            members = [a for a in typing.get_args(tp) if a is not type(None)]
            kind = data.get("kind") if isinstance(data, dict) else None
            tp = next((m for m in members if isinstance(m, type) and issubclass(m, BaseModel)
                       and "kind" in m.model_fields
                       and typing.get_args(m.model_fields["kind"].annotation) == (kind,)),
                      members[0])
        else:
            return tp
    return tp


def _fields(model: type[BaseModel]) -> dict[str, Any]:
    """The model's keys as written in YAML (aliases), in declaration order, with their types."""
    return {(f.alias or name): f.annotation for name, f in model.model_fields.items()}


# Expressions and templates are typed by these constraint objects (pydantic moves them from the
# Annotated type into the field's metadata, so they are looked for in both places).
_TEXT_MARKS = {id(typing.get_args(Expr)[1]), id(typing.get_args(Template)[1])}


def _marked(tp: Any) -> bool:
    if any(id(arg) in _TEXT_MARKS for arg in typing.get_args(tp)):
        return True
    return any(_marked(arg) for arg in typing.get_args(tp) if typing.get_args(arg))


def _text_keys(model: type[BaseModel]) -> set[str]:
    """The keys of ``model`` that hold an expression or a template: written in double quotes."""
    return {(f.alias or name) for name, f in model.model_fields.items()
            if any(id(m) in _TEXT_MARKS for m in f.metadata) or _marked(f.annotation)}


def _children(tp: Any, node: Any) -> list[tuple[Any, Any]]:
    """(child node, its type) pairs below a node of type ``tp``."""
    tp = _unwrap(tp, node)
    origin = typing.get_origin(tp)
    if isinstance(tp, type) and issubclass(tp, BaseModel) and isinstance(node, dict):
        fields = _fields(tp)
        return [(v, fields[k]) for k, v in node.items() if k in fields]
    if origin is dict and isinstance(node, dict):
        value_tp = typing.get_args(tp)[1]
        return [(v, value_tp) for v in node.values()]
    if origin is list and isinstance(node, list):
        item_tp = typing.get_args(tp)[0]
        return [(v, item_tp) for v in node]
    return []


def _key_order(tp: Any, node: dict[Any, Any]) -> list[Any]:
    """The canonical order of a mapping's keys: the model's, unknown keys after, as written."""
    tp = _unwrap(tp, node)
    if not (isinstance(tp, type) and issubclass(tp, BaseModel)):
        return list(node)
    rank = {k: i for i, k in enumerate(_fields(tp))}
    return sorted(node, key=lambda k: (rank.get(str(k), len(rank)),
                                       list(node).index(k) if str(k) not in rank else 0))


# ------------------------------------------------------------------------------ pass 1: text


def _content(line: str) -> bool:
    stripped = line.strip()
    return bool(stripped) and not stripped.startswith("#")


@dataclass(slots=True)
class _Move:
    blocks: list[tuple[int, int]]  # each entry's lines [from, to), in canonical order
    dash: tuple[int, int] | None  # (line, column) of a "- " the first key shares, if any


def _leading(lines: list[str], row: int, floor: int, *, first: bool) -> int:
    """The first line of the comments and blank lines above the key at ``row`` that belong to
    it: all of them down to ``floor``; for a mapping's first key only the comment group right
    above it and the blank lines above that (an earlier group is the parent's or the file's)."""
    start = row
    if not first:
        while start > floor and not _content(lines[start - 1]):
            start -= 1
        return start
    while start > floor and lines[start - 1].strip().startswith("#"):
        start -= 1
    while start > floor and not lines[start - 1].strip():
        start -= 1
    return start


def _plan(node: Any, tp: Any, floor: int, end: int, lines: list[str],
          moves: list[_Move]) -> None:
    """Collect the moves for ``node``, whose lines lie in [``floor``, ``end``), deepest first."""
    if isinstance(node, CommentedSeq) and not node.fa.flow_style():
        item_tp = _unwrap(tp, None)
        item_tp = typing.get_args(item_tp)[0] if typing.get_origin(item_tp) is list else None
        rows = [node.lc.item(i)[0] for i in range(len(node))]
        for i, item in enumerate(node):
            _plan(item, item_tp, rows[i], rows[i + 1] if i + 1 < len(rows) else end, lines,
                  moves)
        return
    if not isinstance(node, CommentedMap) or node.fa.flow_style() or not node:
        return
    keys = list(node)
    rows = [node.lc.key(k)[0] for k in keys]
    if len(set(rows)) != len(rows) or rows != sorted(rows):
        return  # several keys on one line: not a block mapping
    last = end
    while last > rows[-1] + 1 and not _content(lines[last - 1]):
        last -= 1
    starts = [_leading(lines, rows[i], rows[i - 1] + 1 if i else floor, first=i == 0)
              for i in range(len(keys))]
    ends = [*starts[1:], last]
    kids = _children(tp, dict(node))
    child_types = {id(v): t for v, t in kids}
    for i, k in enumerate(keys):
        _plan(node[k], child_types.get(id(node[k])), rows[i] + 1, ends[i], lines, moves)
    order = _key_order(tp, dict(node))
    if order == keys:
        return
    prefix = lines[rows[0]][:node.lc.key(keys[0])[1]]
    dash = (rows[0], len(prefix.rstrip()) - 1) if prefix.rstrip().endswith("-") else None
    moves.append(_Move([(starts[keys.index(k)], ends[keys.index(k)]) for k in order], dash))


def _apply(lines: list[str], move: _Move) -> None:
    start = min(a for a, _b in move.blocks)
    stop = max(b for _a, b in move.blocks)
    if move.dash is not None:  # the first key shares its line with the list's dash: lift it
        line, col = move.dash
        lines[line] = lines[line][:col] + " " + lines[line][col + 1:]
    out: list[str] = []
    for a, b in move.blocks:
        block = lines[a:b]
        if move.dash is not None and not out:  # the new first key takes the dash
            _line, col = move.dash
            key_at = next(i for i, ln in enumerate(block) if _content(ln))
            block[:key_at] = [" " * col + ln.strip() if ln.strip() else ln
                              for ln in block[:key_at]]
            row = block[key_at]
            block[key_at] = row[:col] + "-" + row[col + 1:]
        out += block
    lines[start:stop] = out


def _header_end(lines: list[str]) -> int:
    """The file's opening comment lines (the schema modeline, what the file is) stay first."""
    end = 0
    while end < len(lines) and lines[end].strip().startswith("#"):
        end += 1
    return end


def _reorder(file: str, text: str, model: type[BaseModel]) -> str:
    y = YAML(typ="rt")
    try:
        tree = y.load(text)
    except Exception as exc:
        raise FormatError(f"cannot read the file: {' '.join(str(exc).split())[:200]}") from None
    lines = text.split("\n")
    moves: list[_Move] = []
    _plan(tree, model, _header_end(lines), len(lines), lines, moves)
    for move in moves:  # deepest first: every span read from the original stays valid
        _apply(lines, move)
    return "\n".join(lines)


# ------------------------------------------------------------------------------ pass 2: ruamel


def _requote(node: Any, tp: Any) -> None:
    """Double quotes for expressions and templates and for every single-quoted string; the
    keys of one-line ``{…}`` mappings in model order."""
    if isinstance(node, CommentedMap):
        types_: dict[Any, Any] = dict.fromkeys(node)
        text: set[str] = set()
        unwrapped = _unwrap(tp, node)
        if isinstance(unwrapped, type) and issubclass(unwrapped, BaseModel):
            fields = _fields(unwrapped)
            types_ = {k: fields.get(str(k)) for k in node}
            text = _text_keys(unwrapped)
        elif typing.get_origin(unwrapped) is dict:
            types_ = {k: typing.get_args(unwrapped)[1] for k in node}
        for k in list(node):
            value = node[k]
            if isinstance(value, str) and (str(k) in text or
                                           isinstance(value, SingleQuotedScalarString)):
                node[k] = DoubleQuotedScalarString(str(value))
            else:
                _requote(value, types_[k])
        if node.fa.flow_style():
            for k in _key_order(tp, dict(node)):
                node.move_to_end(k)
    elif isinstance(node, CommentedSeq):
        unwrapped = _unwrap(tp, None)
        item_tp = typing.get_args(unwrapped)[0] if typing.get_origin(unwrapped) is list else None
        for i, value in enumerate(node):
            if isinstance(value, SingleQuotedScalarString):
                node[i] = DoubleQuotedScalarString(str(value))
            else:
                _requote(value, item_tp)


def _layout(text: str, model: type[BaseModel]) -> str:
    y = YAML(typ="rt")
    y.preserve_quotes = True
    y.indent(mapping=2, sequence=4, offset=2)
    y.width = 4096  # never fold a long line
    try:
        tree = y.load(text)
        _requote(tree, model)
        out = io.StringIO()
        y.dump(tree, out)
    except Exception as exc:
        raise FormatError(f"cannot lay the file out: {' '.join(str(exc).split())[:200]}") from None
    return out.getvalue()


def format_policy(file: str, text: str) -> str:
    """``text`` in the canonical layout. Raises `FormatError` for a file that is not readable
    YAML, or whose formatted text would not read back as the same data."""
    model = model_for(file)
    if model is None:
        raise FormatError(f"'{file}' is not a policy file")
    before, issues = parse_yaml(file, text.encode("utf-8"))
    errors = [i for i in issues if not i.is_warning]
    if before is None or errors:
        first = errors[0] if errors else None
        raise FormatError(first.message if first else "not a policy document",
                          first.line if first else 1, first.col if first else 1)
    with warnings.catch_warnings():  # said by parse_yaml as lint warnings; never on the terminal
        warnings.simplefilter("ignore")
        formatted = _layout(_reorder(file, text, model), model)
    after, _ = parse_yaml(file, formatted.encode("utf-8"))
    if after is None or after.data != before.data:
        raise FormatError("formatting would change what the file says; left as it is "
                          "(please report this file)")
    return formatted

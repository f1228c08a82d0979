"""`format_policy`: the canonical layout keeps every comment and restores a shuffled file."""

# house style (STYLE.md): assert expected == actual

from __future__ import annotations

import re

import pytest

from alluse.adapters.policy_files import default_policy_dir, read_policy_files
from alluse.engine.policy.fmt import FormatError, format_policy

DEFAULT = {rel: raw.decode("utf-8") for rel, raw in read_policy_files(default_policy_dir()).items()}
TOP_KEY = re.compile(r"^[a-z_]+:")


def shuffle_top_level(text: str) -> str:
    """What a hurried edit does: every top-level key moved, each with the comments and blank
    lines above it, into the reverse order (the file's opening comments stay first)."""
    lines = text.split("\n")
    first = next(i for i, line in enumerate(lines) if TOP_KEY.match(line))
    blocks: list[list[str]] = []
    pending: list[str] = []
    for line in lines[first:]:
        if TOP_KEY.match(line):
            blocks.append([*pending, line])
            pending = []
        elif not line.strip() or line.startswith("#"):
            pending.append(line)
        else:
            blocks[-1] += [*pending, line]
            pending = []
    return "\n".join(lines[:first] + [ln for b in reversed(blocks) for ln in b] + pending)


def comments(text: str) -> list[str]:
    return sorted(line.split("#", 1)[1].strip() for line in text.splitlines() if "#" in line)


@pytest.mark.parametrize("rel", sorted(DEFAULT))
def test_default_file_is_already_canonical(rel):
    """The shipped files are in the canonical layout (fmt --check passes on them)."""
    assert DEFAULT[rel] == format_policy(rel, DEFAULT[rel])


@pytest.mark.parametrize("rel", sorted(DEFAULT))
def test_a_shuffled_copy_is_restored_with_its_comments(rel):
    """Keys moved with their comments into reverse order: fmt gives back the original, byte
    for byte, every comment where it was."""
    shuffled = shuffle_top_level(DEFAULT[rel])
    assert shuffled != DEFAULT[rel]
    assert comments(DEFAULT[rel]) == comments(shuffled)
    assert DEFAULT[rel] == format_policy(rel, shuffled)


def test_nested_keys_are_ordered_and_a_list_item_keeps_its_dash():
    """Keys inside list items follow the model too; the first key takes the dash, a comment
    above a moved key moves with it, one-line mappings are ordered, texts double-quoted."""
    text = """version: 1
step_down: {hysteresis_atr: 0.5, mode: hysteresis}
levels:
  - name: normal   # why this name
    # the level's number
    level: 0
    min_atr_multiple: 0
    monitor_every_minutes: 15
  - monitor_every_minutes: 5
    level: 1
    name: one
    min_atr_multiple: 1.0
    alert: {priority: MEDIUM, type: PROTOCOL_BREACH}
    script:
      title: 'L1 {symbol}'
      id: l1
      steps:
        - text: hello {symbol}
          kind: note
"""
    assert """version: 1
step_down: {mode: hysteresis, hysteresis_atr: 0.5}
levels:
  # the level's number
  - level: 0
    name: normal   # why this name
    min_atr_multiple: 0
    monitor_every_minutes: 15
  - level: 1
    name: one
    min_atr_multiple: 1.0
    monitor_every_minutes: 5
    alert: {type: PROTOCOL_BREACH, priority: MEDIUM}
    script:
      id: l1
      title: "L1 {symbol}"
      steps:
        - kind: note
          text: "hello {symbol}"
""" == format_policy("protocols.yaml", text)


def test_indentation_is_normalised_to_two_spaces_with_indented_dashes():
    """Four-space indents and dashes flush with their key become the house layout."""
    text = "version: 1\nwatchlist:\n- SPY\n- QQQ\nquality:\n    on_bad_rows: repair\n"
    assert "version: 1\nwatchlist:\n  - SPY\n  - QQQ\nquality:\n  on_bad_rows: repair\n" == \
        format_policy("data.yaml", text)


def test_formatting_is_idempotent_and_keeps_unknown_keys_last():
    """A key the model does not know stays (lint reports it), after the known ones."""
    text = "zzz: 1\nversion: 1\nblacklist: []\n"
    once = format_policy("risk.yaml", text)
    assert ("version: 1\nblacklist: []\nzzz: 1\n", once) == (once, format_policy("risk.yaml", once))


@pytest.mark.parametrize(("rel", "text", "message"), [
    ("risk.yaml", "version: 1\nfoo: [\n", "YAML: expected the node content"),
    ("notes.yaml", "a: 1\n", "'notes.yaml' is not a policy file"),
])
def test_unformattable_files_raise_with_a_position(rel, text, message):
    """Not YAML, or not a policy file: FormatError, nothing returned."""
    with pytest.raises(FormatError, match=re.escape(message)):
        format_policy(rel, text)

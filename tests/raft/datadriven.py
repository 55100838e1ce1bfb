"""A small datadriven runner in the style of etcd's (cockroachdb/datadriven, used by etcd raft's
interaction tests): a script is a list of commands, each followed by ``----`` and the output it must
produce.

    # a comment
    propose 1 v1
    ----
    ok

A command line is a name, then positional arguments and ``key=value`` or ``key=(a,b)`` arguments;
more input lines may follow before ``----``. The output ends at the first empty line (so outputs never
hold one; a command with no output prints ``ok``). ``run_file(path, handler, rewrite=True)`` writes the
actual outputs back instead of comparing (pytest ``--rewrite``).
"""
from __future__ import annotations

import difflib
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

SEPARATOR = "----"


class ScriptError(Exception):
    """A malformed script or command (reported with the file and line)."""


@dataclass
class Arg:
    key: str
    values: list[str]  # one for ``key=v`` or a positional, several for ``key=(a,b)``; none for ``key``

    def single(self) -> str:
        if len(self.values) != 1:
            raise ScriptError(f"argument {self.key} wants one value, has {self.values}")
        return self.values[0]


@dataclass
class TestCase:
    path: Path
    line: int  # 1-based line of the command
    name: str
    positional: list[str] = field(default_factory=list)
    args: dict[str, Arg] = field(default_factory=dict)
    input: list[str] = field(default_factory=list)
    expected: str = ""
    command_text: list[str] = field(default_factory=list)  # the lines as written, up to ``----``

    @property
    def where(self) -> str:
        return f"{self.path.name}:{self.line}"

    def has(self, key: str) -> bool:
        return key in self.args

    def get(self, key: str, default: str | None = None) -> str | None:
        arg = self.args.get(key)
        return default if arg is None else arg.single()

    def ints(self, key: str) -> list[int]:
        arg = self.args.get(key)
        return [] if arg is None else [int(v) for v in arg.values]

    def flag(self, key: str, default: bool) -> bool:
        value = self.get(key)
        if value is None:
            return default
        if value not in ("true", "false"):
            raise ScriptError(f"{key}={value}: want true or false")
        return value == "true"

    def number(self, key: str, default: int) -> int:
        value = self.get(key)
        return default if value is None else int(value)


def parse_command(line: str) -> tuple[str, list[str], dict[str, Arg]]:
    """``name a b key=v key=(x,y)`` -> ("name", ["a", "b"], {key: Arg})."""
    tokens = _tokens(line)
    if not tokens:
        raise ScriptError("empty command")
    name, rest = tokens[0], tokens[1:]
    positional: list[str] = []
    args: dict[str, Arg] = {}
    for token in rest:
        key, eq, value = token.partition("=")
        if not eq:
            positional.append(token)
            continue
        if value.startswith("(") and value.endswith(")"):
            inner = value[1:-1].strip()
            values = [v.strip() for v in inner.split(",")] if inner else []
        else:
            values = [value]
        args[key] = Arg(key, values)
    return name, positional, args


def _tokens(line: str) -> list[str]:
    """Split on spaces, but not inside parentheses or double quotes."""
    tokens: list[str] = []
    current: list[str] = []
    depth = 0
    quoted = False
    for char in line:
        if char == '"':
            quoted = not quoted
        elif not quoted and char == "(":
            depth += 1
        elif not quoted and char == ")":
            depth -= 1
        if char.isspace() and depth == 0 and not quoted:
            if current:
                tokens.append("".join(current))
                current = []
        else:
            current.append(char)
    if current:
        tokens.append("".join(current))
    return tokens


def parse_file(path: Path) -> tuple[list[TestCase], list[list[str]]]:
    """The cases of ``path`` and, for a rewrite, the text between them (comments and blank lines) as a
    list of ``len(cases) + 1`` chunks."""
    lines = path.read_text().splitlines()
    cases: list[TestCase] = []
    between: list[list[str]] = []
    chunk: list[str] = []
    i = 0
    while i < len(lines):
        line = lines[i]
        if not line.strip() or line.lstrip().startswith("#"):
            chunk.append(line)
            i += 1
            continue
        start = i
        command_text = [line]
        i += 1
        while i < len(lines) and lines[i] != SEPARATOR:
            if not lines[i].strip():
                raise ScriptError(f"{path.name}:{start + 1}: command without {SEPARATOR}")
            command_text.append(lines[i])
            i += 1
        if i == len(lines):
            raise ScriptError(f"{path.name}:{start + 1}: command without {SEPARATOR}")
        i += 1  # the separator
        expected: list[str] = []
        while i < len(lines) and lines[i].strip():
            expected.append(lines[i])
            i += 1
        try:
            name, positional, args = parse_command(command_text[0])
        except ScriptError as error:
            raise ScriptError(f"{path.name}:{start + 1}: {error}") from error
        cases.append(
            TestCase(path, start + 1, name, positional, args, command_text[1:], "\n".join(expected), command_text)
        )
        between.append(chunk)
        chunk = []
    between.append(chunk)
    return cases, between


def run_file(path: Path, handler: Callable[[TestCase], str], rewrite: bool = False) -> None:
    """Run every case of ``path`` through ``handler`` in order; compare its output with the expected one,
    or (``rewrite``) write the file back with the actual outputs."""
    cases, between = parse_file(path)
    outputs: list[str] = []
    for case in cases:
        try:
            actual = handler(case).rstrip("\n") or "ok"
        except ScriptError as error:
            raise ScriptError(f"{case.where}: {error}") from error
        if any(not line.strip() for line in actual.splitlines()):
            raise ScriptError(f"{case.where}: output holds an empty line")
        outputs.append(actual)
        if not rewrite and actual != case.expected:
            diff = "\n".join(
                difflib.unified_diff(
                    case.expected.splitlines(), actual.splitlines(), "expected", "actual", lineterm=""
                )
            )
            raise AssertionError(
                f"{case.where}: output of {case.command_text[0]!r} differs (rerun with --rewrite to accept):\n"
                f"{diff}"
            )
    if rewrite:
        lines: list[str] = []
        for chunk, case, output in zip(between, cases, outputs):
            if lines and (not chunk or chunk[0].strip()):
                lines.append("")  # an output ends at an empty line
            lines += chunk + case.command_text + [SEPARATOR] + output.splitlines()
        lines += between[-1]
        while lines and not lines[-1].strip():
            lines.pop()
        path.write_text("\n".join(lines) + "\n")

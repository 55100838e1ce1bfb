"""Redis's glob patterns (KEYS, SCAN MATCH), matched on bytes exactly as Redis 7's stringmatchlen does.

``*`` any run of bytes, ``?`` one byte, ``[abc]`` ``[^abc]`` ``[a-z]`` classes, ``\\x`` a literal x. The
corner cases follow Redis rather than fnmatch: ranges compare bytes as signed C chars and may be given
backwards (``[z-a]``), an unterminated class runs to the end of the pattern, ``[a-]`` is the range ``a``..``]``,
a trailing backslash is literal, and the empty string matches only the empty pattern. A pattern is parsed
once into one-byte tests and stars, then matched with the usual two-pointer walk, which costs at most
O(len(pattern) * len(key)) however many stars there are; a pattern of literals and stars only (the
common ``prefix*`` and ``*part*``) is matched with bytes searches instead.
"""
from __future__ import annotations

_STAR, _QUESTION, _OPEN, _CLOSE, _BACKSLASH, _CARET, _DASH = b"*?[]\\^-"

_ANY = bytes([1]) * 256
_LITERALS = [bytes(256)[:c] + b"\x01" + bytes(255 - c) for c in range(256)]
Token = bytes | None  # a 256-entry table of the bytes a position accepts, or None for a star


def _signed(c: int) -> int:
    # Redis compares class ranges as `char`, which is signed on the platforms it runs on.
    return c - 256 if c >= 128 else c


def _parse_class(pattern: bytes, i: int) -> tuple[bytes, int]:
    """The table of the class starting just after its '[' at `i`, and the index after the class."""
    n = len(pattern)
    negate = i < n and pattern[i] == _CARET
    if negate:
        i += 1
    members = bytearray(256)
    while True:
        if i < n and pattern[i] == _BACKSLASH and n - i >= 2:
            i += 1
            members[pattern[i]] = 1
        elif i < n and pattern[i] == _CLOSE:
            break
        elif i >= n:
            i -= 1  # unterminated: the class ends with the pattern (the step below lands on the end)
            break
        elif n - i >= 3 and pattern[i + 1] == _DASH:
            lo, hi = sorted((_signed(pattern[i]), _signed(pattern[i + 2])))
            for c in range(256):
                if lo <= _signed(c) <= hi:
                    members[c] = 1
            i += 2
        else:
            members[pattern[i]] = 1
        i += 1
    if negate:
        members = bytearray(1 - m for m in members)
    return bytes(members), i + 1


def _parse(pattern: bytes) -> tuple[list[Token], bytes, list[bytes] | None]:
    """The pattern's tokens; the literal bytes every match starts with; and, if the pattern is only
    literals and stars, the literal runs between its stars."""
    tokens: list[Token] = []
    prefix = bytearray()
    literal_so_far = True
    runs: list[bytes] | None = []
    run = bytearray()
    i, n = 0, len(pattern)
    while i < n:
        c = pattern[i]
        literal = False
        if c == _STAR:
            if not tokens or tokens[-1] is not None:  # consecutive stars are one star
                tokens.append(None)
            if runs is not None:
                runs.append(bytes(run))
                run.clear()
            i += 1
        elif c == _QUESTION or c == _OPEN:
            if c == _QUESTION:
                tokens.append(_ANY)
                i += 1
            else:
                table, i = _parse_class(pattern, i + 1)
                tokens.append(table)
            runs = None
        else:
            if c == _BACKSLASH and n - i >= 2:
                i += 1
                c = pattern[i]
            tokens.append(_LITERALS[c])
            run.append(c)
            i += 1
            literal = True
        literal_so_far = literal_so_far and literal
        if literal_so_far:
            prefix.append(c)
    if runs is not None:
        runs.append(bytes(run))
    return tokens, bytes(prefix), runs


class Pattern:
    """A compiled pattern: ``match(key)``, plus ``prefix``, the literal bytes every matching key starts with
    (so a caller walking sorted keys can start at it and stop after it).

    ``matches_all`` is true for the pattern ``*`` alone, which KEYS and SCAN treat as "every key",
    the empty key included (the matcher itself never matches an empty key with a non-empty pattern).
    """

    __slots__ = ("pattern", "prefix", "matches_all", "_tokens", "_runs")

    def __init__(self, pattern: bytes) -> None:
        self.pattern = pattern
        self.matches_all = pattern == b"*"
        self._tokens, self.prefix, self._runs = _parse(pattern)

    def match(self, key: bytes) -> bool:
        if self.matches_all:
            return True
        if not key:
            return not self.pattern
        if self._runs is not None:
            return _match_runs(self._runs, key)
        return _match(self._tokens, key)


def _match_runs(runs: list[bytes], key: bytes) -> bool:
    """Matches a pattern of literal runs separated by stars: bytes searches, no byte-by-byte walk."""
    first, last = runs[0], runs[-1]
    if len(runs) == 1:
        return key == first
    if len(key) < len(first) + len(last) or not key.startswith(first) or not key.endswith(last):
        return False
    # Between the fixed ends, taking each run at its leftmost place leaves the most room for the rest.
    pos, end = len(first), len(key) - len(last)
    for run in runs[1:-1]:
        found = key.find(run, pos, end)
        if found < 0:
            return False
        pos = found + len(run)
    return True


def _match(tokens: list[Token], key: bytes) -> bool:
    ti = ki = 0
    star_ti = -1  # the last star seen, and where in the key its match currently ends
    star_ki = 0
    nt, nk = len(tokens), len(key)
    while ki < nk:
        if ti < nt:
            token = tokens[ti]
            if token is None:
                star_ti, star_ki = ti, ki
                ti += 1
                continue
            if token[key[ki]]:
                ti += 1
                ki += 1
                continue
        if star_ti < 0:
            return False
        # Let the last star swallow one more byte and retry what follows it.
        star_ki += 1
        ki = star_ki
        ti = star_ti + 1
    while ti < nt and tokens[ti] is None:
        ti += 1
    return ti == nt

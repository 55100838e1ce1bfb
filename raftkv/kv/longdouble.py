"""INCRBYFLOAT's number handling: x87 80-bit ``long double`` parsing, addition and printing, done exactly.

Redis parses both operands with ``strtold``, adds them as ``long double`` (a 64-bit significand on x86-64)
and stores ``"%.17Lf"`` with the trailing zeros cut. A Python float has only 53 bits, which changes the
digits (``0.1 + 0.2`` is ``0.3`` in Redis), so values here are exact Fractions rounded to the 80-bit
format after every step, the way the hardware rounds: to nearest, ties to even. Pure integer arithmetic
keeps every node's result the same.
"""
from __future__ import annotations

import re
from fractions import Fraction
from typing import Final

_SIGNIFICAND_BITS = 64
_MIN_NORMAL_EXP = -16382  # 2**-16382 is the smallest normal value
_OVERFLOW = Fraction(2) ** 16384  # the first value too large to hold
_MAX_TEXT = 5 * 1024  # Redis's MAX_LONG_DOUBLE_CHARS: longer input is not a float
_DIGIT_CHUNK = 4000  # below Python's limit on decimal int <-> str conversions

_DECIMAL = re.compile(rb"([+-]?)([0-9]+\.?[0-9]*|\.[0-9]+)(?:[eE]([+-]?[0-9]+))?")
_HEX = re.compile(rb"([+-]?)0[xX]([0-9a-fA-F]+\.?[0-9a-fA-F]*|\.[0-9a-fA-F]+)(?:[pP]([+-]?[0-9]+))?")
_INFINITY = re.compile(rb"([+-]?)(?:inf|infinity)", re.IGNORECASE)

class Infinite:
    """Type of :data:`INFINITE`."""

    __slots__ = ()


INFINITE: Final = Infinite()
"""What :func:`parse` returns for "inf" and "infinity": valid input, but no sum with it is finite."""


def round_to_long_double(x: Fraction) -> Fraction | None:
    """`x` rounded to the nearest long double, or None if that overflows."""
    if x == 0:
        return x
    negative = x < 0
    num, den = abs(x.numerator), x.denominator
    exp = num.bit_length() - den.bit_length()  # floor(log2 |x|) is exp or exp - 1
    if (num << max(0, -exp)) < (den << max(0, exp)):
        exp -= 1
    # Below the normal range the quantum stays that of the smallest normal (gradual underflow).
    quantum_exp = max(exp, _MIN_NORMAL_EXP) - (_SIGNIFICAND_BITS - 1)
    if quantum_exp >= 0:
        den <<= quantum_exp
    else:
        num <<= -quantum_exp
    q, r = divmod(num, den)
    if 2 * r > den or (2 * r == den and q & 1):
        q += 1
    result = Fraction(q << quantum_exp) if quantum_exp >= 0 else Fraction(q, 1 << -quantum_exp)
    if result >= _OVERFLOW:
        return None
    return -result if negative else result


def _int_from_decimal(digits: bytes) -> int:
    value = 0
    for start in range(0, len(digits), _DIGIT_CHUNK):
        chunk = digits[start:start + _DIGIT_CHUNK]
        value = value * 10 ** len(chunk) + int(chunk)
    return value


def _decimal_from_int(n: int) -> str:
    if n < 10 ** _DIGIT_CHUNK:
        return str(n)
    high, low = divmod(n, 10 ** _DIGIT_CHUNK)
    return _decimal_from_int(high) + str(low).rjust(_DIGIT_CHUNK, "0")


def _exponent(raw: bytes | None) -> int:
    if not raw:
        return 0
    # Any exponent this long over- or underflows whatever the digits; clamping keeps the int small.
    return max(-10 ** 9, min(10 ** 9, int(raw))) if len(raw) > 11 else int(raw)


def _exact(text: bytes) -> Fraction | Infinite | None:
    """The exact value `text` spells as a whole C floating-point literal (INFINITE for infinity)."""
    if _INFINITY.fullmatch(text):
        return INFINITE
    m = _HEX.fullmatch(text)
    if m:
        whole, _, frac = m[2].partition(b".")
        mantissa = int(whole + frac or b"0", 16)
        exp2 = _exponent(m[3]) - 4 * len(frac)
        if mantissa == 0:
            return Fraction(0)
        magnitude = mantissa.bit_length() + exp2
        if magnitude > 16400:
            return _OVERFLOW
        if magnitude < -16500:
            return Fraction(1, 1 << 16500)  # far below the smallest subnormal: rounds to zero
        value = Fraction(mantissa << exp2) if exp2 >= 0 else Fraction(mantissa, 1 << -exp2)
        return -value if m[1] == b"-" else value
    m = _DECIMAL.fullmatch(text)
    if m is None:
        return None
    whole, _, frac = m[2].partition(b".")
    digits = (whole + frac).lstrip(b"0")
    if not digits:
        return Fraction(0)
    exp10 = _exponent(m[3]) - len(frac)
    magnitude = len(digits) + exp10  # the value lies in [10**(magnitude-1), 10**magnitude)
    if magnitude > 4940:
        return _OVERFLOW
    if magnitude < -4960:
        return Fraction(1, 10 ** 4960)  # far below the smallest subnormal: rounds to zero
    mantissa = _int_from_decimal(digits)
    value = Fraction(mantissa * 10 ** exp10) if exp10 >= 0 else Fraction(mantissa, 10 ** -exp10)
    return -value if m[1] == b"-" else value


def parse(raw: bytes) -> Fraction | Infinite | None:
    """`raw` as Redis's string2ld reads it: a long double, INFINITE, or None when it is not a valid float.

    The whole string must be one strtold literal (decimal or hex, no blanks, no NUL); NaN, overflow and
    a nonzero value that rounds to zero are refused.
    """
    if not raw or len(raw) >= _MAX_TEXT:
        return None
    exact = _exact(raw)
    if not isinstance(exact, Fraction):
        return exact
    value = round_to_long_double(exact)
    if value is None or (value == 0 and exact != 0):
        return None
    return value


def format_human(value: Fraction) -> bytes:
    """``"%.17Lf"`` of `value` without trailing zeros, and "0" rather than "-0" (Redis's LD_STR_HUMAN)."""
    scaled = abs(value) * 10 ** 17
    q, r = divmod(scaled.numerator, scaled.denominator)
    if 2 * r > scaled.denominator or (2 * r == scaled.denominator and q & 1):
        q += 1
    digits = _decimal_from_int(q).rjust(18, "0")
    text = (digits[:-17] + "." + digits[-17:]).rstrip("0").rstrip(".")
    if value < 0 and text != "0":
        text = "-" + text
    return text.encode()

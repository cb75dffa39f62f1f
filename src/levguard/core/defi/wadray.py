"""Aave's fixed-point libraries, exact: WadRayMath, PercentageMath and uint256 checked arithmetic.

Every function takes and returns Python ``int`` values that stand for Solidity ``uint256`` words
and reverts (raises :class:`MathRevertError`) exactly where the contract reverts, so the engine
in :mod:`levguard.core.defi.aave` reproduces the protocol to the wei.

Units
-----
* wad: 18 decimals (``WAD = 10**18``), used for the health factor;
* ray: 27 decimals (``RAY = 10**27``), used for the liquidity and borrow indexes;
* percentage: basis points with two decimals of a percent (``PERCENTAGE_FACTOR = 10**4`` is
  100.00 %), used for LTV, liquidation threshold, liquidation bonus and protocol fee.

Rounding (Aave v3.0 to v3.3, identical sources)
-----------------------------------------------
All four products and quotients round half up (a remainder of exactly one half rounds up)::

    wadMul(a, b)      = (a * b + WAD / 2) / WAD
    wadDiv(a, b)      = (a * WAD + b / 2) / b
    rayMul(a, b)      = (a * b + RAY / 2) / RAY
    rayDiv(a, b)      = (a * RAY + b / 2) / b
    percentMul(v, p)  = (v * p + 5000) / 10000
    percentDiv(v, p)  = (v * 10000 + p / 2) / p
    rayToWad(a)       = a / 1e9, plus 1 when a % 1e9 >= 5e8
    wadToRay(a)       = a * 1e9

where ``/`` is integer division (floor).

Overflow rules
--------------
The libraries are written in assembly and check overflow themselves; they revert with empty
revert data:

* ``wadMul``/``rayMul``/``percentMul`` revert when ``b != 0`` and
  ``a > (2**256 - 1 - HALF) // b`` (HALF the half unit: ``HALF_WAD``, ``HALF_RAY``, 5000);
* ``wadDiv``/``rayDiv``/``percentDiv`` revert when ``b == 0`` or
  ``a > (2**256 - 1 - b // 2) // UNIT`` (UNIT: ``WAD``, ``RAY``, 10000);
* ``wadToRay`` reverts when ``a * 1e9`` overflows; ``rayToWad`` never reverts.

Plain Solidity >= 0.8 arithmetic is checked: an addition or multiplication past ``2**256 - 1``
or a subtraction below zero reverts with ``Panic(0x11)`` and a division by zero with
``Panic(0x12)`` (:func:`checked_add`, :func:`checked_sub`, :func:`checked_mul`,
:func:`checked_div`).  ``unchecked`` blocks in the contracts only hold operations that cannot
overflow on valid inputs (a division, ``10**decimals``), so no wrapping arithmetic is needed here.

Sources: ``contracts/protocol/libraries/math/WadRayMath.sol`` and ``PercentageMath.sol`` in
aave/aave-v3-core (v3.0.2, commit 782f51917056a53a2c228701058a6c3fb233684a) and
``src/contracts/protocol/libraries/math/`` in aave-dao/aave-v3-origin at tag v3.3.0 (commit
5431379f8beb4d7128c84a81ced3917d856efa84): the two versions are byte-identical.

The directed roundings (``rayMulFloor``, ``rayMulCeil``, ``rayDivFloor``, ``rayDivCeil``,
``percentMulFloor``, ``percentDivCeil`` and ``MathUtils.mulDivCeil``) came with Aave v3.5
(aave-dao/aave-v3-origin tag v3.5.0; unchanged at v3.6.0, commit 5a230ec8): the product or
scaled numerator is checked against ``2**256 - 1`` without the half term, then floored or
raised to the next integer when a remainder is left.
"""

from __future__ import annotations

import functools
import inspect
from collections.abc import Callable
from typing import Any

from levguard.core.validate import contract_uint
from levguard.errors import InputError

__all__ = [
    "HALF_PERCENTAGE_FACTOR",
    "HALF_RAY",
    "HALF_WAD",
    "PERCENTAGE_FACTOR",
    "RAY",
    "UINT256_MAX",
    "WAD",
    "WAD_RAY_RATIO",
    "MathRevertError",
    "as_uint256",
    "checked_add",
    "checked_div",
    "checked_mul",
    "checked_sub",
    "mul_div_ceil",
    "percent_div",
    "percent_div_ceil",
    "percent_mul",
    "percent_mul_floor",
    "ray_div",
    "ray_div_ceil",
    "ray_div_floor",
    "ray_mul",
    "ray_mul_ceil",
    "ray_mul_floor",
    "ray_to_wad",
    "wad_div",
    "wad_mul",
    "wad_to_ray",
]

UINT256_MAX = 2**256 - 1
"""``type(uint256).max``: the largest word, also the health factor of an account without debt."""
WAD = 10**18
HALF_WAD = WAD // 2
RAY = 10**27
HALF_RAY = RAY // 2
WAD_RAY_RATIO = 10**9
PERCENTAGE_FACTOR = 10**4
"""100.00 % in basis points."""
HALF_PERCENTAGE_FACTOR = PERCENTAGE_FACTOR // 2


class MathRevertError(InputError):
    """An arithmetic revert of the contracts.

    Attributes
    ----------
    code : str
        ``"0x11"`` (``Panic(0x11)``: checked overflow or underflow), ``"0x12"`` (``Panic(0x12)``:
        division by zero) or ``""`` (the bare ``revert(0, 0)`` of WadRayMath / PercentageMath).
    name : str
        ``"ARITHMETIC_OVERFLOW"``, ``"DIVISION_BY_ZERO"`` or the library function's name.
    """

    def __init__(self, message: str, code: str, name: str) -> None:
        super().__init__(message)
        self.code = code
        self.name = name


def as_uint256(value: object, field: str) -> int:
    """Return ``value`` as a uint256 word or raise :class:`InputError` naming ``field``.

    Accepts a Python or NumPy integer (not ``bool``) in ``[0, 2**256 - 1]``
    (:func:`levguard.core.validate.contract_uint`).
    """
    return contract_uint(value, field)


def _overflow(op: str) -> MathRevertError:
    return MathRevertError(f"uint256 {op} overflows (Panic 0x11)", "0x11", "ARITHMETIC_OVERFLOW")


def checked_add(a: int, b: int) -> int:
    """Return ``a + b``; raise :class:`MathRevertError` ``0x11`` past ``2**256 - 1``."""
    c = a + b
    if c > UINT256_MAX:
        raise _overflow("addition")
    return c


def checked_sub(a: int, b: int) -> int:
    """Return ``a - b``; raise :class:`MathRevertError` ``0x11`` below zero."""
    if b > a:
        raise MathRevertError(f"uint256 subtraction {a} - {b} underflows (Panic 0x11)", "0x11", "ARITHMETIC_OVERFLOW")
    return a - b


def checked_mul(a: int, b: int) -> int:
    """Return ``a * b``; raise :class:`MathRevertError` ``0x11`` past ``2**256 - 1``."""
    c = a * b
    if c > UINT256_MAX:
        raise _overflow("multiplication")
    return c


def checked_div(a: int, b: int) -> int:
    """Return ``a // b``; raise :class:`MathRevertError` ``0x12`` when ``b == 0``."""
    if b == 0:
        raise MathRevertError("uint256 division by zero (Panic 0x12)", "0x12", "DIVISION_BY_ZERO")
    return a // b


def _checked(fn: Callable[..., int]) -> Callable[..., int]:
    """The public form of the word operation ``fn`` (the engine calls ``fn`` itself, in its hot loops).

    Plain ints in uint256's range go straight to ``fn``; any other argument is read with
    :func:`~levguard.core.validate.contract_uint`, so NumPy integers count exactly and a bool, a
    float, NaN, a negative number or a string raises InputError naming the argument (a NumPy int64
    overflowed, ``None`` was a TypeError, ``wad_to_ray("abc")`` built a 3 GB string).
    """
    sig = inspect.signature(fn)

    @functools.wraps(fn)
    def public(*args: Any, **kwargs: Any) -> int:
        if not kwargs:
            for x in args:
                if type(x) is not int or not 0 <= x <= UINT256_MAX:
                    break
            else:
                return fn(*args)
        bound = sig.bind(*args, **kwargs)
        return fn(*(contract_uint(v, name) for name, v in bound.arguments.items()))

    public.__name__ = public.__qualname__ = fn.__name__.lstrip("_")
    return public


def _mul_half_up(a: int, b: int, unit: int, half: int, name: str) -> int:
    # Revert rule of the assembly: b != 0 and a > (max - half) / b.
    if b != 0 and a > (UINT256_MAX - half) // b:
        raise MathRevertError(f"{name}({a}, {b}) overflows uint256", "", name)
    return (a * b + half) // unit


def _div_half_up(a: int, b: int, unit: int, name: str) -> int:
    # Revert rule of the assembly: b == 0 or a > (max - b / 2) / unit.
    if b == 0:
        raise MathRevertError(f"{name}({a}, 0) divides by zero", "", name)
    if a > (UINT256_MAX - b // 2) // unit:
        raise MathRevertError(f"{name}({a}, {b}) overflows uint256", "", name)
    return (a * unit + b // 2) // b


def _mul_directed(a: int, b: int, unit: int, ceil: bool, name: str) -> int:
    # Revert rule of the v3.5 assembly: b != 0 and a > max / b (the product overflows).
    if unit == 0:
        raise MathRevertError(f"{name}({a}, {b}, 0) divides by zero", "", name)
    if b != 0 and a > UINT256_MAX // b:
        raise MathRevertError(f"{name}({a}, {b}) overflows uint256", "", name)
    q, r = divmod(a * b, unit)
    return q + 1 if ceil and r else q


def _div_directed(a: int, b: int, unit: int, ceil: bool, name: str) -> int:
    # Revert rule of the v3.5 assembly: b == 0 or a > max / unit (the scaled numerator overflows).
    if b == 0:
        raise MathRevertError(f"{name}({a}, 0) divides by zero", "", name)
    if a > UINT256_MAX // unit:
        raise MathRevertError(f"{name}({a}, {b}) overflows uint256", "", name)
    q, r = divmod(a * unit, b)
    return q + 1 if ceil and r else q


# The operations, unchecked (``_name``: what the engine calls) and checked (``name``: the public API).
def _wad_mul(a: int, b: int) -> int:
    """WadRayMath.wadMul: ``(a * b + WAD/2) // WAD`` (half up); reverts on overflow."""
    return _mul_half_up(a, b, WAD, HALF_WAD, "wadMul")


def _wad_div(a: int, b: int) -> int:
    """WadRayMath.wadDiv: ``(a * WAD + b//2) // b`` (half up); reverts on ``b == 0`` or overflow."""
    return _div_half_up(a, b, WAD, "wadDiv")


def _ray_mul(a: int, b: int) -> int:
    """WadRayMath.rayMul: ``(a * b + RAY/2) // RAY`` (half up); reverts on overflow."""
    return _mul_half_up(a, b, RAY, HALF_RAY, "rayMul")


def _ray_div(a: int, b: int) -> int:
    """WadRayMath.rayDiv: ``(a * RAY + b//2) // b`` (half up); reverts on ``b == 0`` or overflow."""
    return _div_half_up(a, b, RAY, "rayDiv")


def _ray_mul_floor(a: int, b: int) -> int:
    """WadRayMath.rayMulFloor (v3.5+): ``a * b // RAY``; reverts when ``a * b`` overflows."""
    return _mul_directed(a, b, RAY, False, "rayMulFloor")


def _ray_mul_ceil(a: int, b: int) -> int:
    """WadRayMath.rayMulCeil (v3.5+): ``ceil(a * b / RAY)``; reverts when ``a * b`` overflows."""
    return _mul_directed(a, b, RAY, True, "rayMulCeil")


def _ray_div_floor(a: int, b: int) -> int:
    """WadRayMath.rayDivFloor (v3.5+): ``a * RAY // b``; reverts on ``b == 0`` or overflow."""
    return _div_directed(a, b, RAY, False, "rayDivFloor")


def _ray_div_ceil(a: int, b: int) -> int:
    """WadRayMath.rayDivCeil (v3.5+): ``ceil(a * RAY / b)``; reverts on ``b == 0`` or overflow."""
    return _div_directed(a, b, RAY, True, "rayDivCeil")


def _mul_div_ceil(a: int, b: int, c: int) -> int:
    """MathUtils.mulDivCeil (v3.5+): ``ceil(a * b / c)``; reverts on ``c == 0`` or when ``a * b`` overflows."""
    return _mul_directed(a, b, c, True, "mulDivCeil")


def _ray_to_wad(a: int) -> int:
    """WadRayMath.rayToWad: ``a // 1e9``, plus one when the remainder is at least ``5e8``."""
    q, r = divmod(a, WAD_RAY_RATIO)
    return q + 1 if r >= WAD_RAY_RATIO // 2 else q


def _wad_to_ray(a: int) -> int:
    """WadRayMath.wadToRay: ``a * 1e9``; reverts when the product overflows uint256."""
    b = a * WAD_RAY_RATIO
    if b > UINT256_MAX:
        raise MathRevertError(f"wadToRay({a}) overflows uint256", "", "wadToRay")
    return b


def _percent_mul(value: int, percentage: int) -> int:
    """PercentageMath.percentMul: ``(value * percentage + 5000) // 10000`` (half up)."""
    return _mul_half_up(value, percentage, PERCENTAGE_FACTOR, HALF_PERCENTAGE_FACTOR, "percentMul")


def _percent_mul_floor(value: int, percentage: int) -> int:
    """PercentageMath.percentMulFloor (v3.5+): ``value * percentage // 10000``; reverts on overflow."""
    return _mul_directed(value, percentage, PERCENTAGE_FACTOR, False, "percentMulFloor")


def _percent_div_ceil(value: int, percentage: int) -> int:
    """PercentageMath.percentDivCeil (v3.5+): ``ceil(value * 10000 / percentage)``; reverts on
    ``percentage == 0`` or overflow."""
    return _div_directed(value, percentage, PERCENTAGE_FACTOR, True, "percentDivCeil")


def _percent_div(value: int, percentage: int) -> int:
    """PercentageMath.percentDiv: ``(value * 10000 + percentage//2) // percentage`` (half up);
    reverts on ``percentage == 0`` or overflow."""
    return _div_half_up(value, percentage, PERCENTAGE_FACTOR, "percentDiv")


wad_mul = _checked(_wad_mul)
wad_div = _checked(_wad_div)
ray_mul = _checked(_ray_mul)
ray_div = _checked(_ray_div)
ray_mul_floor = _checked(_ray_mul_floor)
ray_mul_ceil = _checked(_ray_mul_ceil)
ray_div_floor = _checked(_ray_div_floor)
ray_div_ceil = _checked(_ray_div_ceil)
mul_div_ceil = _checked(_mul_div_ceil)
ray_to_wad = _checked(_ray_to_wad)
wad_to_ray = _checked(_wad_to_ray)
percent_mul = _checked(_percent_mul)
percent_mul_floor = _checked(_percent_mul_floor)
percent_div_ceil = _checked(_percent_div_ceil)
percent_div = _checked(_percent_div)

"""Two bookkeeping shortcuts in py-evm for the EVM tests; the execution is unchanged.

py-evm spends about 15 % of the differential tests' time on two pieces of bookkeeping that
repeat work whose answer cannot change:

* **Jump-destination analysis.**  Every message call builds a new ``CodeStream`` for the callee,
  which learns again, position by position, which bytes are opcodes and which are PUSH data
  (``is_valid_opcode``, called by JUMP and JUMPI).  The answer depends on the code bytes only, so
  :class:`SharedAnalysisCodeStream` keeps one pair of (valid, invalid) position sets per code and
  every stream of the same code fills and reads the same sets.
* **The witness log.**  ``AccountDB.get_code`` asks whether the code's hash is among the keys the
  state has read (for the block witness), through ``KeyAccessLoggerAtomicDB.keys_read``, which
  copies the whole set into a ``frozenset`` on every call: a copy that grows with every key read
  during a test.  :func:`install` makes the property return the set itself; nothing in py-evm
  writes to what it returns, and these tests never read a witness.

Both are installed by ``tests/evm/conftest.py`` in the test process (the guardian processes the
chaos tests start run unpatched py-evm).  ``tests/evm/test_pyevm_fast.py`` runs the same calls
with and without them and requires the same outputs, gas and state root.
"""

from __future__ import annotations

from typing import Any, ClassVar

import eth.vm.computation as _computation
from eth.db.accesslog import KeyAccessLoggerAtomicDB
from eth.vm.code_stream import CodeStream

__all__ = ["SharedAnalysisCodeStream", "install", "installed", "uninstall"]

_ORIGINAL_STREAM = _computation.CodeStream
_ORIGINAL_KEYS_READ = KeyAccessLoggerAtomicDB.keys_read


class SharedAnalysisCodeStream(CodeStream):
    """A ``CodeStream`` whose valid and invalid opcode positions are shared by all streams of the
    same code bytes (the sets py-evm's ``is_valid_opcode`` fills as it goes)."""

    __slots__ = ()
    _analyses: ClassVar[dict[bytes, tuple[set[int], set[int]]]] = {}

    def __init__(self, code_bytes: bytes) -> None:
        super().__init__(code_bytes)
        sets = self._analyses.get(code_bytes)
        if sets is None:
            sets = self._analyses[code_bytes] = (set(), set())
        self.valid_positions, self.invalid_positions = sets


def _keys_read_live(self: Any) -> Any:
    return self._keys_read


def install() -> None:
    """Install both shortcuts (idempotent)."""
    _computation.CodeStream = SharedAnalysisCodeStream  # type: ignore[misc]
    KeyAccessLoggerAtomicDB.keys_read = property(_keys_read_live)  # type: ignore[assignment,method-assign]


def uninstall() -> None:
    """Put py-evm back as it was."""
    _computation.CodeStream = _ORIGINAL_STREAM  # type: ignore[misc]
    KeyAccessLoggerAtomicDB.keys_read = _ORIGINAL_KEYS_READ  # type: ignore[method-assign]


def installed() -> bool:
    """Whether :func:`install` is in effect."""
    return _computation.CodeStream is SharedAnalysisCodeStream

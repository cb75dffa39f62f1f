"""Shortcuts in py-evm's interpreter and bookkeeping for the EVM tests; the execution is unchanged.

py-evm spends about 15 % of the differential tests' time on two pieces of bookkeeping that
repeat work whose answer cannot change, and a further fifth on per-opcode calls that check
what the loop already knows:

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
* **The opcode loop.**  py-evm's ``apply_computation`` looks each opcode up in a dict, calls it
  with a keyword argument, and the opcode then calls ``computation.consume_gas``, which calls
  the gas meter's.  :func:`apply_computation` (installed on ``BaseComputation``) runs the same
  message set-up, then reads the code bytes itself and, for the plain opcodes (``_FastOpcode``:
  a logic function and a fixed gas cost), charges the gas on the meter and calls the logic
  function directly; every other opcode (calls, SSTORE, the ones with dynamic gas) and every
  invalid byte is called as py-evm calls it.  Out of gas raises through the meter's own
  ``consume_gas``, so the error and its message are py-evm's.  With debug logging on it runs
  py-evm's loop.
* **The storage cache on a revert.**  Every reverted snapshot (a view call, a failed message, a
  tried liquidation) made each touched contract's storage drop its cache of the storage trie
  (``AccountStorageDB.discard``), so the next reads walked the trie and decoded its nodes
  again.  The cache holds the trie's values, which a revert changes only when it rolls back
  past a deletion of the account's storage (the trie itself is then swapped):
  :func:`discard_storage` drops it in that case only.  Writes reach the cache through its own
  write-through, as before.
* **Memory.**  ``BaseComputation.extend_memory`` (:func:`extend_memory`) and ``Memory.write``
  (:class:`FastMemory`) check their arguments inline and charge and write what py-evm does; an
  argument py-evm would refuse, or debug logging, goes to py-evm's own method.
* **The stack.**  :class:`FastStack` keeps py-evm's stack (ints and bytes side by side, the
  same limits and errors) with the checks written inline in the hot methods (``push_int``,
  ``push_bytes``, ``pop1_int``, ``pop_ints``).

Both are installed by ``tests/evm/conftest.py`` in the test process (the guardian processes the
chaos tests start run unpatched py-evm).  ``tests/evm/test_pyevm_fast.py`` runs the same calls
with and without them and requires the same outputs, gas and state root.
"""

from __future__ import annotations

from typing import Any, ClassVar

import eth.vm.computation as _computation
from eth._utils.numeric import ceil32
from eth.db.accesslog import KeyAccessLoggerAtomicDB
from eth.db.storage import CLEAR_COUNT_KEY_NAME, AccountStorageDB
from eth.exceptions import FullStack, Halt, InsufficientStack
from eth.validation import validate_stack_bytes, validate_stack_int
from eth.vm.code_stream import CodeStream
from eth.vm.computation import memory_gas_cost
from eth.vm.logic import duplication as _logic_dup
from eth.vm.logic import stack as _logic_stack
from eth.vm.logic import swap as _logic_swap
from eth.vm.logic.invalid import InvalidOpcode
from eth.vm.memory import Memory
from eth.vm.opcode import _FastOpcode
from eth.vm.stack import Stack, to_int
from eth_utils import ValidationError
from eth_utils import to_int as _to_int

__all__ = [
    "FastMemory",
    "FastStack",
    "SharedAnalysisCodeStream",
    "apply_computation",
    "extend_memory",
    "install",
    "installed",
    "uninstall",
]

_ORIGINAL_STREAM = _computation.CodeStream
_ORIGINAL_STACK = _computation.Stack
_ORIGINAL_MEMORY = _computation.Memory
_ORIGINAL_EXTEND = _computation.BaseComputation.extend_memory
_ORIGINAL_KEYS_READ = KeyAccessLoggerAtomicDB.keys_read
_ORIGINAL_APPLY = _computation.BaseComputation.__dict__["apply_computation"]
_ORIGINAL_DISCARD = AccountStorageDB.discard
_UINT_256_MAX = 2**256 - 1
_STOP = 0


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


def discard_storage(self: Any, checkpoint: Any) -> None:
    """py-evm's ``AccountStorageDB.discard`` that keeps the trie cache unless the trie is rolled
    back (a revert past a deletion of the account's storage)."""
    latest_clear_count = _to_int(self._clear_count[CLEAR_COUNT_KEY_NAME])
    if self._journal_storage.has_checkpoint(checkpoint):
        self._journal_storage.discard(checkpoint)
        self._clear_count.discard(checkpoint)
    else:
        self._journal_storage.reset()
        self._clear_count.reset()
    reverted_clear_count = _to_int(self._clear_count[CLEAR_COUNT_KEY_NAME])
    if reverted_clear_count == latest_clear_count - 1:
        self._storage_cache.reset_cache()
        self._storage_lookup.rollback_trie(reverted_clear_count)
    elif reverted_clear_count != latest_clear_count:
        raise ValidationError(
            f"This revert has changed the clear count in an invalid way, from"
            f" {latest_clear_count} to {reverted_clear_count}, in"
            f" 0x{self._address.hex()}"
        )


def extend_memory(self: Any, start_position: int, size: int) -> None:
    """py-evm's ``BaseComputation.extend_memory`` with its checks inline (same gas, reason and
    memory); an argument it would refuse, or debug logging, goes to py-evm's method."""
    if (
        not (
            start_position.__class__ is int
            and size.__class__ is int
            and 0 <= start_position <= _UINT_256_MAX
            and 0 <= size <= _UINT_256_MAX
        )
        or self.logger.show_debug2
    ):
        _ORIGINAL_EXTEND(self, start_position, size)
        return
    if size:
        memory = self._memory
        before_size = ceil32(len(memory._bytes))
        after_size = ceil32(start_position + size)
        if before_size < after_size:  # the memory cost grows with the size, strictly
            cost = memory_gas_cost(after_size) - memory_gas_cost(before_size)
            self._gas_meter.consume_gas(
                cost, reason=" ".join(("Expanding memory", str(before_size), "->", str(after_size)))
            )
        memory.extend(start_position, size)


class FastMemory(Memory):
    """py-evm's ``Memory`` with the checks of ``write`` inline (same bytes, same errors)."""

    __slots__ = ()

    def write(self, start_position: int, size: int, value: bytes) -> None:
        if (
            size
            and start_position.__class__ is int
            and size.__class__ is int
            and start_position >= 0
            and size >= 0
            and isinstance(value, bytes)
            and len(value) == size
            and start_position + size <= len(self._bytes)
            and start_position <= _UINT_256_MAX
            and size <= _UINT_256_MAX
        ):
            self._bytes[start_position : start_position + size] = value
        else:
            super().write(start_position, size, value)


class FastStack(Stack):
    """py-evm's ``Stack`` with the checks of its hot methods inline (same values, limits, errors)."""

    __slots__ = ()

    def push_int(self, value: int) -> None:
        values = self.values
        if len(values) > 1023:
            raise FullStack("Stack limit reached")
        if not 0 <= value <= _UINT_256_MAX:
            validate_stack_int(value)  # raises py-evm's ValidationError
        values.append(value)

    def push_bytes(self, value: bytes) -> None:
        values = self.values
        if len(values) > 1023:
            raise FullStack("Stack limit reached")
        if len(value) > 32:
            validate_stack_bytes(value)  # raises py-evm's ValidationError
        values.append(value)

    def pop1_int(self) -> int:
        values = self.values
        if not values:
            raise InsufficientStack("Wanted 1 stack item, had none")
        x = values.pop()
        return x if isinstance(x, int) else to_int(x)

    def pop_ints(self, num_items: int) -> tuple[int, ...]:
        values = self.values
        if num_items > len(values):
            raise InsufficientStack(f"Wanted {num_items} stack items, only had {len(values)}")
        if num_items == 2:
            a, b = values.pop(), values.pop()
            return (a if isinstance(a, int) else to_int(a), b if isinstance(b, int) else to_int(b))
        items = values[-num_items:]
        del values[-num_items:]
        return tuple(x if isinstance(x, int) else to_int(x) for x in reversed(items))


# The stack opcodes the loop runs inline, by py-evm's logic function: (kind, size or position).
_PUSH, _DUP, _SWAP, _POP = 1, 2, 3, 4
_INLINE: dict[Any, tuple[int, int]] = {_logic_stack.pop: (_POP, 0)}
_INLINE.update({getattr(_logic_stack, f"push{n}"): (_PUSH, n) for n in range(33)})
_INLINE.update({getattr(_logic_dup, f"dup{n}"): (_DUP, n) for n in range(1, 17)})
_INLINE.update({getattr(_logic_swap, f"swap{n}"): (_SWAP, n) for n in range(1, 17)})

_TABLES: dict[int, tuple[Any, list[Any]]] = {}


def _table(opcodes: Any) -> list[Any]:
    """One entry per byte: (kind, size or position, gas, mnemonic, logic function) for a plain
    opcode (kind 0: call the logic function; PUSH, DUP, SWAP and POP: run inline), the opcode
    object for any other, None for an invalid byte (cached per opcode dict)."""
    hit = _TABLES.get(id(opcodes))
    if hit is not None and hit[0] is opcodes:
        return hit[1]
    table: list[Any] = [None] * 256
    for byte, fn in opcodes.items():
        if type(fn) is _FastOpcode:
            kind, arg = _INLINE.get(fn.logic_fn, (0, 0))
            table[byte] = (kind, arg, fn.gas_cost, fn.mnemonic, fn.logic_fn)
        else:
            table[byte] = fn
    _TABLES[id(opcodes)] = (opcodes, table)
    return table


@classmethod  # type: ignore[misc]
def apply_computation(
    cls: Any, state: Any, message: Any, transaction_context: Any, parent_computation: Any = None
) -> Any:
    """py-evm's ``BaseComputation.apply_computation`` with the opcode loop described above."""
    if cls.logger.show_debug2:
        return _ORIGINAL_APPLY.__func__(cls, state, message, transaction_context, parent_computation)
    with cls(state, message, transaction_context) as computation:
        if computation.is_origin_computation:
            computation.contracts_created = []
            if message.is_create:
                cls.consume_initcode_gas_cost(computation)
        if parent_computation is not None:
            computation.contracts_created = parent_computation.contracts_created
        if message.is_create:
            computation.contracts_created.append(message.storage_address)
        precompile = computation.precompiles.get(message.code_address, None)
        if precompile is not None:
            if not message.is_delegation:
                precompile(computation)
            return computation
        table = _table(computation.opcodes)
        meter = computation._gas_meter
        code = computation.code
        values = computation._stack.values
        raw = code._raw_code_bytes
        size = len(raw)
        try:
            while True:
                pc = code.program_counter
                if pc < size:
                    opcode = raw[pc]
                    code.program_counter = pc + 1
                else:
                    opcode = _STOP
                entry = table[opcode]
                if entry.__class__ is tuple:
                    kind, arg, gas, mnemonic, logic_fn = entry
                    if gas > meter.gas_remaining:
                        meter.consume_gas(gas, mnemonic)  # raises py-evm's OutOfGas
                    meter.gas_remaining -= gas
                    if kind == 0:
                        logic_fn(computation)
                    elif kind == _PUSH:  # push_XX: the next ``arg`` code bytes, zero-padded at the end
                        start = code.program_counter
                        code.program_counter = start + arg
                        value = raw[start : start + arg]
                        if len(value) != arg:
                            value = value.ljust(arg, b"\x00")
                        if len(values) > 1023:
                            raise FullStack("Stack limit reached")
                        values.append(value)
                    elif kind == _DUP:
                        if len(values) > 1023:
                            raise FullStack("Stack limit reached")
                        if arg > len(values):
                            raise InsufficientStack(f"Insufficient stack items for DUP{arg}")
                        values.append(values[-arg])
                    elif kind == _SWAP:
                        if arg >= len(values):
                            raise InsufficientStack(f"Insufficient stack items for SWAP{arg}")
                        values[-1], values[-arg - 1] = values[-arg - 1], values[-1]
                    else:  # POP
                        if not values:
                            raise InsufficientStack("Wanted 1 stack item, had none")
                        values.pop()
                elif entry is None:
                    InvalidOpcode(opcode)(computation=computation)
                else:
                    entry(computation=computation)
                if pc >= size:  # py-evm's code stream yields one STOP past the end, then stops
                    break
        except Halt:
            pass
    return computation


def install() -> None:
    """Install the shortcuts (idempotent)."""
    _computation.CodeStream = SharedAnalysisCodeStream  # type: ignore[misc]
    _computation.Stack = FastStack  # type: ignore[misc]
    _computation.Memory = FastMemory  # type: ignore[misc]
    _computation.BaseComputation.extend_memory = extend_memory  # type: ignore[method-assign]
    _computation.BaseComputation.apply_computation = apply_computation  # type: ignore[method-assign,assignment]
    KeyAccessLoggerAtomicDB.keys_read = property(_keys_read_live)  # type: ignore[assignment,method-assign]
    AccountStorageDB.discard = discard_storage  # type: ignore[method-assign]


def uninstall() -> None:
    """Put py-evm back as it was."""
    _computation.CodeStream = _ORIGINAL_STREAM  # type: ignore[misc]
    _computation.Stack = _ORIGINAL_STACK  # type: ignore[misc]
    _computation.Memory = _ORIGINAL_MEMORY  # type: ignore[misc]
    _computation.BaseComputation.extend_memory = _ORIGINAL_EXTEND  # type: ignore[method-assign]
    _computation.BaseComputation.apply_computation = _ORIGINAL_APPLY  # type: ignore[method-assign]
    KeyAccessLoggerAtomicDB.keys_read = _ORIGINAL_KEYS_READ  # type: ignore[method-assign]
    AccountStorageDB.discard = _ORIGINAL_DISCARD  # type: ignore[method-assign]


def installed() -> bool:
    """Whether :func:`install` is in effect."""
    return (
        _computation.CodeStream is SharedAnalysisCodeStream
        and _computation.Stack is FastStack
        and _computation.Memory is FastMemory
        and _computation.BaseComputation.extend_memory is extend_memory
        and _computation.BaseComputation.__dict__["apply_computation"] is apply_computation
        and AccountStorageDB.discard is discard_storage
    )

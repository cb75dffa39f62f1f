"""Swaps for the on-chain guardian's unwind: the :class:`Swapper` interface and :class:`ContractSwapper`.

Unwinding a loop step (:mod:`levguard.live.onchain_unwind`) withdraws collateral, sells it for the
debt token and repays.  Where the sale happens is the user's choice (a DEX router, an aggregator,
an adapter contract of their own); the guardian needs three things of it, in contract units:

* ``spender``: the address the sold token is approved to (exactly the amount sold);
* ``quote(w3, sell, buy, amount)``: what selling ``amount`` base units of token ``sell`` gives of
  token ``buy`` now (a blocking view call, run on the venue's worker thread like every read);
* ``swap(w3, sell, buy, amount, min_out, recipient)``: the transaction (``to``, calldata) that sells
  exactly ``amount`` and reverts unless at least ``min_out`` reaches ``recipient``.

The guardian never trusts the quote alone: ``min_out`` is the oracle value of the amount less the
account's ``max_slippage`` (what the unwind was sized on), and a quote below it stops the unwind
before anything is withdrawn.

:class:`ContractSwapper` speaks to a contract with ``quote(tokenIn, tokenOut, amountIn) view
returns (uint256)`` and ``swap(tokenIn, tokenOut, amountIn, minAmountOut, recipient) returns
(uint256)`` that pulls ``amountIn`` from the caller with ``transferFrom``: the interface of the
tests' ``OracleSwapMock`` (``tests/evm/contracts/OracleSwapMock.sol``: the oracle price less a fee)
and a small one to put in front of any DEX.  Another venue of swaps is another class with the same
three members.
"""

from __future__ import annotations

import re
from typing import Any, Protocol, runtime_checkable

from levguard.errors import InputError
from levguard.venues import onchain_abi as abi

__all__ = ["ContractSwapper", "Swapper"]

_ADDRESS = re.compile(r"^0x[0-9a-fA-F]{40}$")


@runtime_checkable
class Swapper(Protocol):
    """Where the unwind sells collateral for the debt token (module docstring).

    Attributes
    ----------
    name : str
        How the swap shows in calls and alerts (``"Swapper"``).
    spender : str
        The address approved to pull the sold token.
    """

    name: str
    spender: str

    def quote(self, w3: Any, sell: str, buy: str, amount: int) -> int:
        """Base units of ``buy`` that selling ``amount`` base units of ``sell`` gives now (blocking)."""
        ...

    def swap(self, w3: Any, sell: str, buy: str, amount: int, min_out: int, recipient: str) -> tuple[str, str]:
        """``(to, calldata)`` of the transaction selling exactly ``amount`` of ``sell`` for at least
        ``min_out`` of ``buy`` paid to ``recipient``."""
        ...


class ContractSwapper:
    """A swap contract with ``quote`` and ``swap(tokenIn, tokenOut, amountIn, minAmountOut,
    recipient)`` (module docstring); it is its own spender.

    Parameters
    ----------
    address : str
        The contract (``0x`` + 40 hex).
    name : str
        Its name in calls and alerts.

    Raises
    ------
    InputError
        ``address`` is not a 20-byte hex address.
    """

    def __init__(self, address: str, name: str = "Swapper") -> None:
        if not (isinstance(address, str) and _ADDRESS.match(address)):
            raise InputError(f"swapper address must be 0x followed by 40 hex digits, was {address!r:.60}")
        self.spender = address
        self.name = str(name)

    def __repr__(self) -> str:
        return f"ContractSwapper({self.spender!r})"

    def _contract(self, w3: Any) -> Any:
        return w3.eth.contract(address=w3.to_checksum_address(self.spender), abi=abi.SWAPPER)

    def quote(self, w3: Any, sell: str, buy: str, amount: int) -> int:
        """``quote(sell, buy, amount)`` of the contract at the latest block."""
        return int(self._contract(w3).functions.quote(sell, buy, int(amount)).call())

    def swap(self, w3: Any, sell: str, buy: str, amount: int, min_out: int, recipient: str) -> tuple[str, str]:
        """The contract's ``swap(sell, buy, amount, min_out, recipient)`` calldata."""
        data = self._contract(w3).encode_abi("swap", args=[sell, buy, int(amount), int(min_out), recipient])
        return self._contract(w3).address, str(data)

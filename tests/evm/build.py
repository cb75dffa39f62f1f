"""Build the EVM fixtures of the differential tests into tests/evm/.build/ (cached).

Run as ``python tests/evm/build.py`` (``make evm`` does, after ``npm ci --prefix tests/evm``).
Each target is one function ``build_<name>() -> Path`` registered in :data:`TARGETS`;
:func:`main` builds them all.  A target writes ``.build/<name>.json``::

    {"target": ..., "key": <sha256 of sources + settings + compiler>, "compiler": ...,
     "settings": {...}, "contracts": {"<Name>": {"abi": [...], "bytecode": "0x..."}}}

and returns at once when the file's ``key`` matches the inputs (a second run takes well under a
second: it hashes the sources and reads no compiler).

Targets:

* ``morpho-blue``: ``Morpho`` and the mocks ``ERC20Mock``, ``OracleMock``, ``IrmMock`` compiled
  from the npm package ``@morpho-org/morpho-blue@1.0.0`` (its ``src/`` equals the v1.0.0 tag of
  github.com/morpho-org/morpho-blue) by the npm package ``solc@0.8.19`` (solc-js, driven through
  its standard-JSON interface by node), with the default profile of the repository's
  ``foundry.toml`` at tag v1.0.0: via-IR, optimizer on with 999,999 runs ("Etherscan does not
  support verifying contracts with more optimization runs"), EVM version paris (solc 0.8.19's
  and foundry's default then); no metadata hash (later versions of that file say so too).  The same compilation builds the tests' driver
  ``contracts/MorphoProbe.sol`` (``MorphoProbe``, which batches calls to Morpho in one
  transaction and logs Morpho's storage after each).
"""

from __future__ import annotations

import hashlib
import json
import os
import posixpath
import re
import shutil
import subprocess
import sys
from collections.abc import Callable, Iterable, Mapping
from pathlib import Path
from typing import Any

HERE = Path(__file__).resolve().parent
NODE_MODULES = HERE / "node_modules"
BUILD_DIR = HERE / ".build"

# solc-js reads the standard-JSON input on stdin and writes the output on stdout; {package} is
# the npm package of the compiler ("solc", or an alias such as "solc-0.8.27").
_SOLC_JS = (
    "const solc = require('{package}');"
    "const input = require('fs').readFileSync(0, 'utf8');"
    "process.stdout.write(solc.compile(input));"
)
DEFAULT_SOLC = "solc"

MORPHO_PACKAGE = NODE_MODULES / "@morpho-org" / "morpho-blue"
# foundry.toml of morpho-org/morpho-blue at tag v1.0.0: via-ir = true, optimizer_runs = 999999
# (foundry's defaults then: optimizer on, evm_version paris).  No metadata hash: it only appends
# bytes to the code (the repository's later foundry.toml sets bytecode_hash = "none").  Its
# hardhat.config.ts compiles with 4294967295 runs instead; the semantics are the same.
MORPHO_SETTINGS: dict[str, Any] = {
    "viaIR": True,
    "optimizer": {"enabled": True, "runs": 999_999},
    "evmVersion": "paris",
    "metadata": {"bytecodeHash": "none"},
}
MORPHO_CONTRACTS = {
    "Morpho": "src/Morpho.sol",
    "ERC20Mock": "src/mocks/ERC20Mock.sol",
    "OracleMock": "src/mocks/OracleMock.sol",
    "IrmMock": "src/mocks/IrmMock.sol",
    "MorphoProbe": "probe/MorphoProbe.sol",
}
# The tests' own driver (it batches calls to the real contract), compiled beside the package.
MORPHO_PROBE = HERE / "contracts" / "MorphoProbe.sol"


class BuildError(RuntimeError):
    """A build step failed (node or a package missing, a compiler error)."""


def node_available() -> bool:
    """Return whether node and the installed npm packages are there to build with."""
    return shutil.which("node") is not None and NODE_MODULES.is_dir()


def solc_version(package: str = DEFAULT_SOLC) -> str:
    """Return the version of the npm solc package ``package`` installed in node_modules."""
    meta = NODE_MODULES / package / "package.json"
    if not meta.is_file():
        raise BuildError(f"{meta} is missing: run `npm ci --prefix {HERE}`")
    return str(json.loads(meta.read_text())["version"])


def read_sources(package: Path, subdir: str = "src") -> dict[str, str]:
    """Return every ``.sol`` file under ``package/subdir`` keyed by its path relative to package."""
    root = package / subdir
    if not root.is_dir():
        raise BuildError(f"{root} is missing: run `npm ci --prefix {HERE}`")
    return {p.relative_to(package).as_posix(): p.read_text() for p in sorted(root.rglob("*.sol"))}


def _key(
    target: str,
    sources: Mapping[str, str],
    settings: Mapping[str, Any],
    contracts: Mapping[str, str],
    solc: str = DEFAULT_SOLC,
    extra_outputs: tuple[str, ...] = (),
) -> str:
    h = hashlib.sha256()
    payload: dict[str, Any] = {
        "target": target,
        "compiler": solc_version(solc),
        "settings": settings,
        "contracts": contracts,
    }
    if extra_outputs:  # absent for the targets that ask for none, so their keys stay as they were
        payload["outputs"] = list(extra_outputs)
    h.update(json.dumps(payload, sort_keys=True).encode())
    for name in sorted(sources):
        h.update(name.encode() + b"\0" + sources[name].encode() + b"\0")
    return h.hexdigest()


def _cached(out: Path, key: str) -> bool:
    if not out.is_file():
        return False
    try:
        return bool(json.loads(out.read_text()).get("key") == key)
    except (OSError, ValueError):
        return False


def compile_standard_json(standard_input: Mapping[str, Any], solc: str = DEFAULT_SOLC) -> dict[str, Any]:
    """Compile a solc standard-JSON input with the npm solc ``solc`` (solc-js under node); return the output.

    Raises
    ------
    BuildError
        node is missing, node fails, or the compiler reports an error.
    """
    node = shutil.which("node")
    if node is None:
        raise BuildError("node is not installed")
    proc = subprocess.run(
        [node, "-e", _SOLC_JS.format(package=solc)],
        input=json.dumps(standard_input),
        capture_output=True,
        text=True,
        cwd=HERE,
        check=False,
    )
    if proc.returncode != 0:
        raise BuildError(f"solc-js failed ({proc.returncode}): {proc.stderr.strip()[:2000]}")
    output: dict[str, Any] = json.loads(proc.stdout)
    errors = [e for e in output.get("errors", []) if e.get("severity") == "error"]
    if errors:
        raise BuildError("\n".join(e.get("formattedMessage", e.get("message", "")) for e in errors))
    return output


def _extra_output(compiled: Mapping[str, Any], selector: str) -> dict[str, Any]:
    # "storageLayout" -> {"storageLayout": ...}; "evm.bytecode.linkReferences" ->
    # {"linkReferences": ...}; "evm.deployedBytecode.object" -> {"deployedBytecode": "0x..."}.
    value: Any = compiled
    for part in selector.split("."):
        value = value[part]
    if selector == "evm.deployedBytecode.object":
        return {"deployedBytecode": "0x" + value}
    return {selector.split(".")[-1]: value}


def compile_target(
    target: str,
    sources: Mapping[str, str],
    settings: Mapping[str, Any],
    contracts: Mapping[str, str],
    solc: str = DEFAULT_SOLC,
    extra_outputs: tuple[str, ...] = (),
) -> Path:
    """Compile ``contracts`` (name -> source unit) from ``sources`` into ``.build/<target>.json``.

    Skips the compiler when the output's key (a hash of sources, settings, contract list,
    compiler version and extra outputs) is current.  ``solc`` names the npm compiler package;
    ``extra_outputs`` are more solc output selections per contract (``"storageLayout"``,
    ``"evm.bytecode.linkReferences"``, ``"evm.deployedBytecode.object"``), stored under the
    contract by their last path component (``storageLayout``, ``linkReferences``, ``object``
    of the deployed code as ``deployedBytecode``).  Returns the output path.
    """
    out = BUILD_DIR / f"{target}.json"
    key = _key(target, sources, settings, contracts, solc, extra_outputs)
    if _cached(out, key):
        return out
    wanted = ["abi", "evm.bytecode.object", *extra_outputs]
    selection = {unit: {name: list(wanted)} for name, unit in contracts.items()}
    standard_input = {
        "language": "Solidity",
        "sources": {unit: {"content": text} for unit, text in sources.items()},
        "settings": {**settings, "outputSelection": selection},
    }
    output = compile_standard_json(standard_input, solc)
    built: dict[str, Any] = {}
    for name, unit in contracts.items():
        try:
            compiled = output["contracts"][unit][name]
        except KeyError as exc:
            raise BuildError(f"{target}: {unit}:{name} is not in the compiler's output") from exc
        built[name] = {"abi": compiled["abi"], "bytecode": "0x" + compiled["evm"]["bytecode"]["object"]}
        for selector in extra_outputs:
            built[name].update(_extra_output(compiled, selector))
    document = {
        "target": target,
        "key": key,
        "compiler": f"solc-js {solc_version(solc)}",
        "settings": dict(settings),
        "contracts": built,
    }
    BUILD_DIR.mkdir(parents=True, exist_ok=True)
    tmp = out.with_suffix(f".{os.getpid()}.tmp")
    tmp.write_text(json.dumps(document))
    tmp.replace(out)  # atomic: a concurrent reader never sees half a file
    return out


def build_morpho_blue() -> Path:
    """Compile Morpho Blue and its mocks (see the module docstring); return the output path."""
    sources = read_sources(MORPHO_PACKAGE)
    sources["probe/MorphoProbe.sol"] = MORPHO_PROBE.read_text()
    return compile_target("morpho-blue", sources, MORPHO_SETTINGS, MORPHO_CONTRACTS)


AAVE_ORIGIN_PACKAGE = NODE_MODULES / "@aave-dao" / "aave-v3-origin"
AAVE_ORIGIN_SOLC = "solc-0.8.27"
# foundry.toml of aave-dao/aave-v3-origin at tag v3.6.0 (the npm package's src/ equals that tag's):
# solc 0.8.27, optimizer on with 200 runs, EVM version shanghai, bytecode_hash = "none"; no via-IR.
AAVE_ORIGIN_SETTINGS: dict[str, Any] = {
    "optimizer": {"enabled": True, "runs": 200},
    "evmVersion": "shanghai",
    "metadata": {"bytecodeHash": "none"},
}
# The repository's remappings.txt: the OpenZeppelin and solidity-utils imports by prefix, here
# resolved to the npm packages @bgd-labs/solidity-utils depends on (@openzeppelin/contracts and
# @openzeppelin/contracts-upgradeable, pinned by package-lock.json; their files sit at the package
# root, where the git checkouts have them under contracts/).
AAVE_ORIGIN_REMAPPINGS: dict[str, Path] = {
    "openzeppelin-contracts-upgradeable/contracts/": NODE_MODULES / "@openzeppelin" / "contracts-upgradeable",
    "openzeppelin-contracts/contracts/": NODE_MODULES / "@openzeppelin" / "contracts",
    "@openzeppelin/": NODE_MODULES / "@openzeppelin",
    "solidity-utils/": NODE_MODULES / "@bgd-labs" / "solidity-utils" / "src",
}
_C = "src/contracts/"
AAVE_ORIGIN_CONTRACTS = {
    "PoolAddressesProvider": _C + "protocol/configuration/PoolAddressesProvider.sol",
    "ACLManager": _C + "protocol/configuration/ACLManager.sol",
    "PoolInstance": _C + "instances/PoolInstance.sol",
    "PoolConfiguratorInstance": _C + "instances/PoolConfiguratorInstance.sol",
    "ATokenInstance": _C + "instances/ATokenInstance.sol",
    "VariableDebtTokenInstance": _C + "instances/VariableDebtTokenInstance.sol",
    "DefaultReserveInterestRateStrategyV2": _C + "misc/DefaultReserveInterestRateStrategyV2.sol",
    "AaveOracle": _C + "misc/AaveOracle.sol",
    "AaveProtocolDataProvider": _C + "helpers/AaveProtocolDataProvider.sol",
    "MockAggregator": _C + "mocks/oracle/CLAggregators/MockAggregator.sol",
    "MintableERC20": _C + "mocks/tokens/MintableERC20.sol",
    "BorrowLogic": _C + "protocol/libraries/logic/BorrowLogic.sol",
    "ConfiguratorLogic": _C + "protocol/libraries/logic/ConfiguratorLogic.sol",
    "FlashLoanLogic": _C + "protocol/libraries/logic/FlashLoanLogic.sol",
    "LiquidationLogic": _C + "protocol/libraries/logic/LiquidationLogic.sol",
    "PoolLogic": _C + "protocol/libraries/logic/PoolLogic.sol",
    "SupplyLogic": _C + "protocol/libraries/logic/SupplyLogic.sol",
    "Errors": _C + "protocol/libraries/helpers/Errors.sol",
}
AAVE_ORIGIN_OUTPUTS = ("evm.bytecode.linkReferences", "evm.deployedBytecode.object", "storageLayout")
_IMPORT = re.compile(r"""^\s*import\s+(?:[^'"]*?from\s+)?['"]([^'"]+)['"]""", re.MULTILINE)


def _resolve_unit(unit: str, package: Path) -> Path:
    for prefix, root in AAVE_ORIGIN_REMAPPINGS.items():
        if unit.startswith(prefix):
            return root / unit[len(prefix) :]
    return package / unit


def import_closure(roots: Iterable[str], package: Path) -> dict[str, str]:
    """Return every source unit ``roots`` import, transitively, keyed by its solc unit name.

    Relative imports resolve against the importing unit (as solc does); remapped ones
    (:data:`AAVE_ORIGIN_REMAPPINGS`) keep their prefix as the unit name and are read from the
    npm package the prefix maps to.
    """
    sources: dict[str, str] = {}
    todo = list(roots)
    while todo:
        unit = todo.pop()
        if unit in sources:
            continue
        path = _resolve_unit(unit, package)
        if not path.is_file():
            raise BuildError(f"{unit} ({path}) is missing: run `npm ci --prefix {HERE}`")
        text = path.read_text()
        sources[unit] = text
        for imported in _IMPORT.findall(text):
            if imported.startswith("."):
                imported = posixpath.normpath(posixpath.join(posixpath.dirname(unit), imported))
            todo.append(imported)
    return dict(sorted(sources.items()))


def build_aave_v3_origin() -> Path:
    """Compile Aave v3.6 (npm ``@aave-dao/aave-v3-origin@3.6.0``) for tests/evm/_aave_origin.py.

    The Pool and PoolConfigurator instances, the logic libraries they link, the tokens, the
    rate strategy V2, AaveOracle, the data provider and the mocks (``MockAggregator``,
    ``MintableERC20``) with the v3.6.0 ``foundry.toml`` settings (:data:`AAVE_ORIGIN_SETTINGS`)
    by solc 0.8.27 (the npm alias ``solc-0.8.27``); with link references, deployed code (its
    size is checked against EIP-170 in the tests) and storage layouts (for the storage writes).
    """
    sources = import_closure(AAVE_ORIGIN_CONTRACTS.values(), AAVE_ORIGIN_PACKAGE)
    return compile_target(
        "aave-v3-origin",
        sources,
        AAVE_ORIGIN_SETTINGS,
        AAVE_ORIGIN_CONTRACTS,
        solc=AAVE_ORIGIN_SOLC,
        extra_outputs=AAVE_ORIGIN_OUTPUTS,
    )


TARGETS: dict[str, Callable[[], Path]] = {
    "morpho-blue": build_morpho_blue,
    "aave-v3-origin": build_aave_v3_origin,
}
"""Every build target by name; a new protocol adds its ``build_<name>`` function here."""


def load(target: str) -> dict[str, Any]:
    """Return the built document of ``target`` (``.build/<target>.json``), or raise BuildError."""
    out = BUILD_DIR / f"{target}.json"
    if not out.is_file():
        raise BuildError(f"{out} is missing: run `make evm`")
    document: dict[str, Any] = json.loads(out.read_text())
    return document


def main(argv: list[str] | None = None) -> int:
    """Build the targets named in ``argv`` (all when none); return the exit status."""
    names = list(argv if argv is not None else sys.argv[1:]) or list(TARGETS)
    unknown = [n for n in names if n not in TARGETS]
    if unknown:
        print(f"unknown target(s) {unknown}; known: {sorted(TARGETS)}", file=sys.stderr)
        return 2
    if not node_available():
        print(f"node or {NODE_MODULES} missing: EVM fixtures not built (the tests skip)", file=sys.stderr)
        return 0
    try:
        for name in names:
            TARGETS[name]()
    except BuildError as exc:
        print(f"build failed: {exc}", file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())

"""``levguard.sim`` is a deprecated alias of ``levguard.cascade`` for one release (issue 15)."""

from __future__ import annotations

import subprocess
import sys


def test_the_old_package_and_module_names_still_import_with_a_deprecation_warning() -> None:
    code = (
        "import warnings\n"
        "with warnings.catch_warnings(record=True) as caught:\n"
        "    warnings.simplefilter('always')\n"
        "    from levguard.sim.engine import simulate_path as old\n"
        "    from levguard.sim import paths, Population\n"
        "import levguard.cascade as c\n"
        "from levguard.cascade.simulator import simulate_path as new\n"
        "from levguard.cascade import price_paths\n"
        "print(old is new, paths is price_paths, Population is c.Population,"
        " any(issubclass(w.category, DeprecationWarning) and 'levguard.cascade' in str(w.message) for w in caught))"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True).stdout.split()
    assert out == ["True", "True", "True", "True"]

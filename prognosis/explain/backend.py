"""shap, imported on first use and without the notices its import triggers."""

from __future__ import annotations

import warnings
from types import ModuleType

__all__ = ["shap_module"]


def shap_module() -> ModuleType:
    """The ``shap`` package.

    Importing shap builds its plotting colour maps, which makes matplotlib >= 3.11 emit
    ``PendingDeprecationWarning`` (``set_bad``/``set_over``) from shap's own module: nothing we
    can act on, so it is hidden here. The import is deferred (it takes seconds) so that
    commands which never explain anything do not pay for it.
    """
    with warnings.catch_warnings():
        warnings.filterwarnings("ignore", category=PendingDeprecationWarning, module=r"shap(\.|$)")
        import shap
    return shap

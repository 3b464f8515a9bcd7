"""Running the batch: plan, executors, warm kernels, outputs."""

from __future__ import annotations

import importlib
import importlib.util
import sys
import types


def _defer_rfc3987_syntax() -> None:
    """Make ``rfc3987_syntax`` import on first use instead of when jsonschema is imported.

    papermill imports nbformat, which imports jsonschema, whose format checkers import
    ``rfc3987_syntax``; that module builds some 35 Lark parsers when it is imported: 1.0 s of
    CPU in every worker process (jsonschema issue #1428), paid while the batch cleans the
    inputs on the same two cores. Nothing here validates the ``iri`` formats it checks, and if
    anything does, the stub below imports the real module then and hands the call on.
    """
    name = "rfc3987_syntax"
    if name in sys.modules or "jsonschema" in sys.modules:
        return
    try:
        if importlib.util.find_spec(name) is None:
            return
    except (ImportError, ValueError):
        return
    stub = types.ModuleType(name)

    def real():
        if sys.modules.get(name) is stub:
            del sys.modules[name]
        return importlib.import_module(name)

    def is_valid_syntax(*args, **kwargs):
        return real().is_valid_syntax(*args, **kwargs)

    def getattr_(attr):
        if attr.startswith("__"):  # the import system's and repr()'s probes do not load it
            raise AttributeError(attr)
        return getattr(real(), attr)

    stub.is_valid_syntax = is_valid_syntax
    stub.__getattr__ = getattr_
    stub.__canvass_deferred__ = True
    sys.modules[name] = stub


_defer_rfc3987_syntax()

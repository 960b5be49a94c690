"""The simulated local authority (the generative model is documented in
:mod:`features.simulate.model`).

Public API: :class:`SimulationConfig`, :func:`simulate_authority` → :class:`SimulatedAuthority`,
:func:`write_authority`, :func:`headline_figures`. Importing this package is cheap; the heavy
modules load on first use.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from features.simulate.authority import (
        SimulatedAuthority,
        headline_figures,
        simulate_authority,
    )
    from features.simulate.config import Dynamics, SimulationConfig
    from features.simulate.output import write_authority

_EXPORTS = {
    "SimulatedAuthority": "features.simulate.authority",
    "headline_figures": "features.simulate.authority",
    "simulate_authority": "features.simulate.authority",
    "Dynamics": "features.simulate.config",
    "SimulationConfig": "features.simulate.config",
    "write_authority": "features.simulate.output",
}

__all__ = [
    "Dynamics",
    "SimulatedAuthority",
    "SimulationConfig",
    "headline_figures",
    "simulate_authority",
    "write_authority",
]


def __getattr__(name: str) -> Any:
    if name in _EXPORTS:
        import importlib

        return getattr(importlib.import_module(_EXPORTS[name]), name)
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")

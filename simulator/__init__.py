"""The simulated local authority (the generative model is documented in
:mod:`simulator.model`).

Public API: :class:`SimulationConfig`, :func:`simulate_authority` → :class:`SimulatedAuthority`,
:func:`write_authority`, :func:`headline_figures`. Importing this package is cheap; the heavy
modules load on first use.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from simulator.authority import (
        SimulatedAuthority,
        headline_figures,
        simulate_authority,
    )
    from simulator.config import Dynamics, SimulationConfig
    from simulator.output import write_authority

_EXPORTS = {
    "SimulatedAuthority": "simulator.authority",
    "headline_figures": "simulator.authority",
    "simulate_authority": "simulator.authority",
    "Dynamics": "simulator.config",
    "SimulationConfig": "simulator.config",
    "write_authority": "simulator.output",
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

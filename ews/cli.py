"""``ews``: one command line for the whole service.

Each package owns its commands (``features.cli``, ``simulator.cli``, ``training.cli``,
``serving.cli``); this module only gathers them. Command modules import their heavy
dependencies inside the command, so ``ews --help`` stays fast.
"""

from __future__ import annotations

import typer

from ews import impact as impact_cli
from features import cli as features_cli
from features import snapshots_cli
from simulator import cli as simulate_cli

app = typer.Typer(
    name="ews",
    help="Early-warning service for persistent school absence in England.",
    no_args_is_help=True,
    add_completion=False,
    pretty_exceptions_show_locals=False,
)

app.command("simulate")(simulate_cli.simulate)
app.command("summarise")(features_cli.summarise)
app.command("features")(snapshots_cli.features)
app.command("impact")(impact_cli.impact)
app.command("score")(snapshots_cli.score)
app.command("figures")(snapshots_cli.figures)


def _register_optional() -> None:
    """Commands of packages still being built register themselves when present."""
    import importlib

    for module_name in ("training.cli", "serving.cli", "ews.demo"):
        try:
            module = importlib.import_module(module_name)
        except ModuleNotFoundError as exc:
            if exc.name == module_name:
                continue
            raise
        module.register(app)


_register_optional()

if __name__ == "__main__":  # pragma: no cover
    app()

"""`python -m bot`: run the installed `summary-bot` command.

The command line wires adapters to the core, so it lives in `adapters.cli`; looking it up
through the package's entry point keeps this core package free of adapter imports.
"""

from importlib.metadata import entry_points

(command,) = entry_points(group="console_scripts", name="summary-bot")
raise SystemExit(command.load()())

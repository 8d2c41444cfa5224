"""summary-bot core: platform-free. Adapters live in `adapters/`."""

__version__ = "0.1.0"

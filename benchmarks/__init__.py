"""Benchmarks and the local stand-ins they run against: not part of the bot itself.

`summary-bot bench KIND` finds them here; they need the `bench` extra
(`pip install -e '.[bench]'`).
"""

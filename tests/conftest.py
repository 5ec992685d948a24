"""Shared fixtures: real servers and the real engine, started once per session and stopped by PID."""

pytest_plugins = [
    "fixtures.s3_server",
    "fixtures.engine",
    "fixtures.hub_server",
]

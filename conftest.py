"""Repository-wide pytest configuration: registers the contract-checking fakes (tests/fakes/README.md)."""

pytest_plugins = ["tests.fakes.plugin"]

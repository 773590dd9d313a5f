"""The console on :8000: the front door showing every running system's health, link and live figures."""

from scalebox.console.settings import ConsoleSettings

__all__ = ["ConsoleSettings"]

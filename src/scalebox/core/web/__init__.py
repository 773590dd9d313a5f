"""The web edge shared by every system: app factory, errors, pages, health, metrics, security."""

from scalebox.core.web.app import WebSettings, create_app
from scalebox.core.web.errors import problem_response
from scalebox.core.web.pages import Pages

__all__ = ["Pages", "WebSettings", "create_app", "problem_response"]

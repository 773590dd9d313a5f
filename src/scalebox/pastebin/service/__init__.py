"""The pastebin's use cases, behind its ports."""

from scalebox.pastebin.service.limits import Limits, RateLimitedError, Viewer
from scalebox.pastebin.service.moderation import ModerationService, QueueItem
from scalebox.pastebin.service.pastes import TOPIC, Created, Opened, PasteService
from scalebox.pastebin.service.stats import Figures, ReadStats
from scalebox.pastebin.service.upkeep import Reaped, Upkeep

__all__ = [
    "TOPIC",
    "Created",
    "Figures",
    "Limits",
    "ModerationService",
    "Opened",
    "PasteService",
    "QueueItem",
    "RateLimitedError",
    "ReadStats",
    "Reaped",
    "Upkeep",
    "Viewer",
]

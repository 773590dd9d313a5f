"""The shortener's use cases: links (create, edit, tags, blocklist), redirects and visits, analytics."""

from scalebox.shortener.service.analytics import (
    ANALYTICS_GROUP,
    AnalyticsService,
    VisitPage,
    VisitRepository,
    VisitWindow,
)

__all__ = [
    "ANALYTICS_GROUP",
    "AnalyticsService",
    "VisitPage",
    "VisitRepository",
    "VisitWindow",
]

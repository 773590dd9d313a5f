"""The running shortener as one value: what `app.open_shortener` wires and every edge reads.

It lives in the service layer (not in app.py) so the HTTP edge can name its type without importing
the module that builds it.
"""

from __future__ import annotations

import random
from dataclasses import dataclass, field

from prometheus_client import CollectorRegistry
from sqlalchemy.ext.asyncio import AsyncEngine

from scalebox.core.auth import AccountService, CsrfCodec, SessionCodec
from scalebox.core.cache import Cache
from scalebox.core.clock import Clock
from scalebox.core.events import EventBus
from scalebox.core.ratelimit import RateLimiter
from scalebox.shortener.service.analytics import AnalyticsService
from scalebox.shortener.service.links import LinkService
from scalebox.shortener.service.redirects import LinkSource, VisitRecorder
from scalebox.shortener.settings import ShortenerSettings


@dataclass
class Shortener:
    """Everything a running shortener holds; built by `open_shortener`, closed by its context."""

    settings: ShortenerSettings
    engine: AsyncEngine
    events: EventBus
    shared_cache: Cache | None
    limiter: RateLimiter
    links: LinkService
    source: LinkSource
    recorder: VisitRecorder
    analytics: AnalyticsService
    accounts: AccountService
    sessions: SessionCodec
    csrf: CsrfCodec
    clock: Clock
    rng: random.Random
    registry: CollectorRegistry = field(default_factory=CollectorRegistry)

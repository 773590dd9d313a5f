"""Pastebin: share text by link, modelled on Pastebin and its open peers (pinnwand, PrivateBin, haste)."""

from scalebox.pastebin.settings import PastebinSettings

__all__ = ["PastebinSettings"]

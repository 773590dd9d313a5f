"""Storage adapters of the pastebin's ports."""

"""Code outside the pastebin uses it only through its package; this pins what that exposes."""

import scalebox.pastebin


def test_pastebin_exports_only_its_settings():
    assert scalebox.pastebin.__all__ == ["PastebinSettings"]
    for name in scalebox.pastebin.__all__:
        assert hasattr(scalebox.pastebin, name)

"""System-agnostic capability shared by every scalebox system; never imports a system."""

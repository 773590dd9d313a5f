"""scalebox: ten famous internet-scale systems, runnable for real, in Python."""

__version__ = "0.1.0"

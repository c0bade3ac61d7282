"""paper-digest: a self-hosted research-digest newsletter."""

__version__ = "0.1.0"

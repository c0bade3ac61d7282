"""The shipped default templates (a resource package: read through importlib.resources)."""

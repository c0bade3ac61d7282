"""Page templates of the web layer (HTML files, read through importlib.resources)."""

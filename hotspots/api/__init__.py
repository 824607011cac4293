"""Front doors: the FastAPI app (``create_app``) and the ``hotspots`` CLI."""

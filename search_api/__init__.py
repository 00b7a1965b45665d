"""The two faces: the FastAPI app and the ``kb`` CLI (the only place that wires packages together)."""

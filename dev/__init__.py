"""Developer tooling: run the whole system on one machine (``python -m dev``) and a local mail sink."""

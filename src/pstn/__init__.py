"""Teams PSTN pool and charge analytics: the Python edges (ingest, sample data, orchestration)."""

__version__ = "0.1.0"

"""Faults: toxic models, the Toxiproxy client, and the embedded Toxiproxy-compatible server."""

"""Metrics: scraping /metrics endpoints, a Prometheus HTTP API backend, time series."""

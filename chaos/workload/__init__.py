"""Workload: arrival curves, speakers and listener probes (sans-IO cores plus adapters)."""

"""Stack backends: local processes, Docker, network namespaces, external endpoints."""

"""Experiment and stack-spec models, YAML loading with located validation errors."""

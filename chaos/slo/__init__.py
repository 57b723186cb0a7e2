"""SLOs: objectives, windows bound to run phases, evaluation and rules export."""

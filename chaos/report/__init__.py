"""Report: the run journal (history), its reader, and the reports derived from it."""

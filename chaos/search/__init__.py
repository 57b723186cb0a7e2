"""Search: hypothesis strategies over fault schedules and shrinking to a minimal one."""

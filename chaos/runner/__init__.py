"""Runner: the game-day timeline, guards, rollback and leases."""

"""Live updates: the broker between processes and this process's view of the board."""

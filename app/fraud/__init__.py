"""Rate-limit policy, fraud rules and the review queue."""

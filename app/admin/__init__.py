"""What admins see and do: the review queue, player search and detail, the audit log."""

"""Pages and HTMX fragment routes."""

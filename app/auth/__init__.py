"""Local accounts, OAuth client login, the OAuth server for API clients."""

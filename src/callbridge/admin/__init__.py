"""Management over HTTP for admin keys: accounts, their keys, extensions (same services as the CLI)."""

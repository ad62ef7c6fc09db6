"""The audit trail: who changed keys, accounts, extensions, webhook endpoints and contacts in bulk."""

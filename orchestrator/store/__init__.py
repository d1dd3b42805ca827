"""Redis adapters: key names, Lua scripts, the ledger, the limiter, campaigns and identities."""

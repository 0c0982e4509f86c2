"""Built-in plugins: the embedded default (local target, SQLite ledger), env secrets, shell context, webhooks."""

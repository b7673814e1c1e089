"""A person's preferences: the pure model of what a page shows and records (`model`), and
the center that reads Intercom and the ledger around it (`center`)."""

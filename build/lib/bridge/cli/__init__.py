"""The `bridge` command: `main` parses and dispatches; each command's work lives beside it."""

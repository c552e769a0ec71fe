"""Measurement and models: `make bench`, `make tune`, `make cost` and `make spike`, with the
dated prices they use. Its README is the results. Nothing imports this package."""

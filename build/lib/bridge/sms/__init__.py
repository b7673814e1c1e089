"""What inbound text messages mean: keywords by language."""

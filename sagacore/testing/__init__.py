"""Public Hypothesis strategies for testing agent schedulers in other projects ' CI."""

"""Run a Singer loader and, when it fails, end with one line naming the cause."""

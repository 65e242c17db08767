"""Modal screens and dialogs of the TUI, one per module."""

"""The Textual user interface: screens, widgets and styles over `ikm_tui.core`."""

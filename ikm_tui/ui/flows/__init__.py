"""Multi-step TUI flows (receive, request, token states, PIN memory) started from the main screen."""

"""Operator text: explanations of return codes and messages, and equivalent command lines."""

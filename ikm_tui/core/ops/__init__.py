"""Operator use cases (request, receive, delete, rename, doctor, PIN change, ...) over the p11 boundary."""

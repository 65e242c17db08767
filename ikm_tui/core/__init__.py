"""The core: tokens, objects, X.509, requests and errors. Never imports Textual or Rich."""

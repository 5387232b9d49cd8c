"""Payload fields shared by the embedded and the server vector index."""

KEYWORD_FIELDS = ("namespace", "kind", "status", "created_by", "tags")

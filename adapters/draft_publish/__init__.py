"""The draft_publish provider adapter (``docs/providers/draft_publish.md``)."""

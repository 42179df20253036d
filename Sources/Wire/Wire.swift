// Zero-copy packet views and builders live here (see Docs/architecture.md).

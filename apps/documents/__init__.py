"""The example feature: documents, using every pattern of the template. Copy it (docs/new-feature.md)."""

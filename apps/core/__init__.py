"""The base every app builds on: model mixins, querysets, repository, context, errors."""

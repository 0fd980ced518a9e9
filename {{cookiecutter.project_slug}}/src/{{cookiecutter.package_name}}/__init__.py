"""Pipelines of this project: features, training, validation, deployment, inference and monitoring."""

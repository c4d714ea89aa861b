"""The embedded default: template.yaml on a local moto server, driven by a local runtime."""

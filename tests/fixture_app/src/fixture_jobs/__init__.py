"""The framework's test application: a small job graph with every shape cronlane's tests need."""

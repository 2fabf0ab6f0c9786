"""Experiment definitions, written against labctl only and registered by entry point."""

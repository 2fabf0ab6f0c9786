"""HTML/PNG reports of runs and certifications."""

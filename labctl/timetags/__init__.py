"""Vectorised time-tag processing: heralds, coincidences, histograms."""

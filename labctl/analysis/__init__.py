"""Lineshapes, lmfit models and estimators returning frozen results."""

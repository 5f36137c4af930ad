"""Recommendation models, evaluation and home-page rows."""

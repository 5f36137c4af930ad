"""Streaming quality: playback metrics, anomaly detection, root-cause localisation, comparisons."""

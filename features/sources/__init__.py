"""Imagery sources: local scenes, precomputed tables, Sentinel Hub."""

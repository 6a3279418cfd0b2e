"""Hostile input: URLs and image files that attackers send, each with its expected outcome."""

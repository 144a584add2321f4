"""Optical character recognition: text lines with boxes, confidence and reading order."""

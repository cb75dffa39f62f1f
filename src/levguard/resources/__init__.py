"""Packaged data: sample account specs and configs."""

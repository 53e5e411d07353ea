"""The curated resources shipped with neurokine, installed as the package `neurokine.resources`.

This folder is both the workflow's `resources/` directory and package data of the library
(pyproject.toml maps it), so `neurokine.load_axes()` finds the same files in a checkout and in
an installed wheel. Downloads (resources/downloads/) are never packaged.
"""

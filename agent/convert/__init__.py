"""Readers for the third-party weight files of the offline bundle, and writers of standard folders.

Each converter reads one binary layout (documented in ``../shared/docs/offline-models.md``)
with plain ``struct``/``numpy`` code: no pickle, no import of the weight packages' own code.
"""

"""
Package providing interface implementations for interacting with the various
databases.
"""

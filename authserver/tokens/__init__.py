"""Tokens this server issues."""

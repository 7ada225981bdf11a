"""Checks of the disk document's PowerShell that need no Windows (docs/development.md)."""

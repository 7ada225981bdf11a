"""The constructs VssRestoreStack is built from, one concern each."""

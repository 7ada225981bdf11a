"""RunOnlineValidation: RunValidation's handler on the restored instance (Mode "Online").

A task of its own so that it runs with its own role: Run Command only with the project's
validation documents (``vss-restore-validation-*``) and only on opted-in instances.
"""

from .run_validation import handler

__all__ = ["handler"]

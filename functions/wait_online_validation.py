"""WaitOnlineValidation: WaitValidation's handler for RunOnlineValidation's command (Mode "Online").

A task of its own so that it runs with the role of RunOnlineValidation.
"""

from .wait_validation import handler

__all__ = ["handler"]

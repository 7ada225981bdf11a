"""Lambda handlers, one module per task of statemachines/restore.asl.json."""

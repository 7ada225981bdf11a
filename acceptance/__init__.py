"""``make aws-test``: the opt-in acceptance suite that runs vss-restore in a real AWS account.

It deploys the stack, launches throwaway Windows instances, snapshots them with the tags the
VSS solution writes, runs a restore, a rolled-back restore, a drill and a fleet, then an
online restore, a refused online restore of part of a striped volume and a mount on an
instance whose disks it prepares through SSM, checks the invariants with boto3, and removes
everything it created (``docs/aws-acceptance.md``).
"""

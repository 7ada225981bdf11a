"""The CDK app that deploys vss-restore."""

"""Restore a Windows EC2 instance in place from an application-consistent (VSS) EBS snapshot set."""

__version__ = "0.1.0"

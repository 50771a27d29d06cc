"""hostns-operator: detect pods attached to host namespaces (hostNetwork, hostPID, hostIPC)."""

__version__ = "0.1.0"

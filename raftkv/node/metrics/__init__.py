"""What the Raft process shows to monitoring: latency histograms (pure, filled by the loop), a Prometheus
collector over the published :class:`~raftkv.node.info.NodeReport`, and the HTTP endpoint serving it.

Importing the package loads nothing: ``latency`` is imported by :mod:`raftkv.node.info`, which workers
load, and must not pull in ``prometheus_client``.
"""

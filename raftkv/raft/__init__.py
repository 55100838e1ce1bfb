"""The pure Raft core. Nothing in this package may import socket, time, threading, multiprocessing,
selectors, plyvel or use module-level randomness: it is driven by ticks, messages and proposals only."""

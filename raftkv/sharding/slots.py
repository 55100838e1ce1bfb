"""Hash slots on the command path: the compiled :mod:`raftkv._slots` (pure twin: ``slots_pure``)."""
from raftkv._slots import key_slot, keys_slot
from raftkv.sharding.slots_pure import CROSSSLOT, SLOTS

__all__ = ["CROSSSLOT", "SLOTS", "key_slot", "keys_slot"]

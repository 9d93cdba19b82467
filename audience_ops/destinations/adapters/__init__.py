"""Destination adapters: one class per destination kind, all implementing :class:`.base.Adapter`."""

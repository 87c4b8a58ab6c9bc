"""Destinations: the contract (`base.Destination`), the registry that finds a kind's class
(`registry.get_kind`), and one folder per kind whose pure functions (options, mapping, requests,
answers) its class binds."""

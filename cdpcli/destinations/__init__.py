"""Destinations: one module per kind, each a set of pure functions (map, build request, parse
response) over the shared values of `cdpcli.destinations.base`."""

"""cdpcli: move Segment-spec analytics events from files into Mixpanel and Lago."""

__version__ = "0.1.0"

__all__ = ["__version__"]

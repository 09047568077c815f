"""retention: customer-retention KPIs from the exports every business has."""

__version__ = "0.1.0"

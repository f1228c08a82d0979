"""The default ALL-USE policy set, shipped inside the wheel (data only)."""

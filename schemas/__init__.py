"""JSON Schemas generated from the policy models (data only)."""

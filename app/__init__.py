"""alluse: a declarative rules engine for the ALL-USE options wheel."""

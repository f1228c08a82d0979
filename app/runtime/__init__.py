"""The runtime: the driver that moves events between sources, the engine and sinks, and the
wirings that run it (replay on history with the simulated broker)."""

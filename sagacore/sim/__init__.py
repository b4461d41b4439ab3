"""The discrete-event cluster simulator: event loop, workers, cluster."""

"""zmq remote operation: instrument server, proxies, herald bus, CURVE auth."""

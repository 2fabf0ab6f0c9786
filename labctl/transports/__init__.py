"""Client transports for instruments that speak neither VISA nor a vendor library (zmq)."""

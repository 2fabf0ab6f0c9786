"""Serving a station's instruments to orchestrators on other PCs (``labctl node serve``).

The server side of `labctl.remote`: it loads a station like any command and
serves it, so it sits above `labctl.station`, while the client side (proxies,
node connections) sits below it.
"""

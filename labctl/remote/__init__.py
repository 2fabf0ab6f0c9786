"""Remote operation over zmq: instruments served by lab PCs, run from one orchestrator.

- `address`: ``tcp://host:port`` endpoints and the station file's ``remote:`` key;
- `protocol`, `codec`: the message format (JSON header + binary array frames,
  never pickle) and the values it may carry;
- `allowlist`, `catalog`: which parameters and methods a node serves;
- `session`: a node's orchestrators, the armed run, the heartbeat watchdog;
- the server, ``labctl node serve`` (ROUTER), is `labctl.node.server` (it loads
  a station, so it lives above `labctl.station`);
- `client`, `proxy`, `nodes`: the orchestrator's side (DEALER, proxies that
  mirror the served instruments, arming runs across nodes, the node clock);
- `heralds_bus`: herald events from the heralding station (PUB/SUB);
- `keys`: CurveZMQ key sets and the check of who may connect;
- `errors`: what can go wrong, as `labctl.errors.RemoteError` subclasses.

`labctl.station` imports only `address` up front; the zmq parts load when a station
names remote instruments.
"""

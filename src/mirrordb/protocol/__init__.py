"""PostgreSQL's frontend/backend protocol v3, sans-I/O: the message codec (messages, with its
primitive fields in wire), the connection state machines of both ends (server, client) and
their byte buffers (buffers). No sockets, threads or clocks. See README.md in this directory."""

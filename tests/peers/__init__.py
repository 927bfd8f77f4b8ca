"""Real peers for tests: Dovecot, Knot+Unbound, TLS servers, each started on loopback."""

// The sans-IO WireGuard protocol core lives here (see Docs/architecture.md).

// The sans-IO TCP/IP stack lives here (see Docs/architecture.md).

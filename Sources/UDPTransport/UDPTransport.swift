// Batched UDP I/O (io_uring, recvmmsg/sendmmsg fallback) lives here (see Docs/architecture.md).

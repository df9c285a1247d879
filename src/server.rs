//! The HTTP server: /api/messages, /healthz, /readyz.

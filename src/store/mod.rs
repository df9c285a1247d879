//! Durable state behind one interface: SQLite by default, PostgreSQL when instances share it.

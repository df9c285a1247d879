//! Configuration: one TOML file, environment overrides, Bot Framework names for the bot identity.

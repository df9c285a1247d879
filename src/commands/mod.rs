//! Text and card actions in, an intent out: the one place for the grammar and the help text.

//! What Teams adds to the Bot Framework: mentions, invokes, conversation references.

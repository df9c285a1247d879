//! The Adaptive Cards Templating language, applied to the templates in adaptive-cards/.

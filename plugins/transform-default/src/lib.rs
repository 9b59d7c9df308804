//! transform-default plugin.

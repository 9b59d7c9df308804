//! summarize-default plugin.

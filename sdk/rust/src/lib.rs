//! Write KubeStellar customization plugins in Rust.

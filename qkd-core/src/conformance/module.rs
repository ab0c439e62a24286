//! Conformance suite for one trait (see the module overview).

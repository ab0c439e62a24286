//! See [the distillation overview](super).

"""One way to run long work on a server a whole class shares (generic: imports no model code)."""

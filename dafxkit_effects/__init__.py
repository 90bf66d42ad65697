"""The built-in dafxkit effects, each one module, registered through entry points."""

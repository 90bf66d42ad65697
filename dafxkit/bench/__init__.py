"""Side-by-side benchmarks against peers, shared by `dafxkit bench` and benchmarks/."""

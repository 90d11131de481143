"""Example GCX-TP jobs: a seeded GEMM for benchmarks and a quantized digits classifier."""

"""GCX benchmarks, run from the repository root (``make bench``); not part of the installed package.

* ``python -m bench.matching --workload FILE --json`` — the matching engine alone
  (:mod:`bench.matching`; files from ``python -m bench.gen_workload``, format in :mod:`bench.workload`);
* ``python -m bench.journal --ops N --json`` — engine + durable journal with group commit;
* ``python -m bench.api --orders N --json`` — order entry through a real coordinator's API;
* ``python -m bench.tp --json`` — GCX-TP executors (int8 GEMM TOP/s), commitment overhead, proof
  sizes and a job's peak memory (``--backend cupy`` on a GPU);
* ``python -m bench.ingest`` / ``python -m bench.adverts`` — advert validation and p2p ingest;
* ``bench/bench_node.py`` / ``bench/gpu_vs_torch.py`` — the node's benchmark suite and, on a GPU,
  our CuPy kernels against ``torch.matmul``.

:mod:`bench.workload` holds the generators that the tests share with the benchmarks.
"""

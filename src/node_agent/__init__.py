"""The GCX node agent, run by providers on their GPU hosts (``gcx node …``; DESIGN §1–2, §4).

* :mod:`.backends` — compute backends behind one interface: CuPy on an NVIDIA GPU, NumPy on
  the CPU (a GPU failure becomes a reason string and the CPU takes over).
* :mod:`.runner` — the benchmark method (warm-up, calibration, repeats, statistics, checks);
  :mod:`.capacity` turns a run into a signed, graded report; :mod:`.reports` caches it.
* :mod:`.telemetry_nvml`, :mod:`.telemetry_rapl` — power and energy during the run.
* :mod:`.daemon` — ``gcx node run``: adverts, heartbeats, report and liveness protocols.
* :mod:`.doctor` — ``gcx node doctor`` pre-flight checks; :mod:`.card` the capacity card;
  :mod:`.progress` the progress display; :mod:`.cli` the commands.
"""

"""Print pytest-benchmark results as ratio tables: each group's pynn median
against the other implementations' medians, and GFLOP/s where known.

usage: python benchmarks/report.py RESULTS.json
"""
import json
import os
import re
import sys


def peak_gflops():
    """Two FMA units x 8 float lanes (16 with AVX-512) x 2 flops, per core
    per cycle, at the nominal clock (turbo can run above it)."""
    if os.environ.get("PYNN_PEAK_GFLOPS"):
        return float(os.environ["PYNN_PEAK_GFLOPS"])
    try:
        info = open("/proc/cpuinfo").read()
        mhz = max(float(m) for m in re.findall(r"cpu MHz\s*:\s*([0-9.]+)", info))
    except (OSError, ValueError):
        return None
    flops_per_cycle = 64 if "avx512f" in info else 32
    return os.cpu_count() * flops_per_cycle * mhz / 1e3


def impl_of(bench):
    """'pynn', 'functional' (pynn's functional API on the same model),
    'numpy', 'torch' or 'litert', from the test's name."""
    name = bench["name"]
    for impl in ("functional", "pynn", "numpy", "torch", "litert", "keras", "scipy"):
        if impl in name:
            return impl
    return name


def main(path):
    data = json.load(open(path))
    peak = peak_gflops()
    groups = {}
    for b in data["benchmarks"]:
        groups.setdefault(b["group"], []).append(b)
    gpu_peaks = {b["extra_info"]["peak_gflops"] for b in data["benchmarks"]
                 if b.get("extra_info", {}).get("peak_gflops")}
    print(f"CPU peak: {peak:.0f} GFLOP/s" if peak else "CPU peak: unknown",
          *(f"GPU peak: {p / 1e3:.0f} TFLOP/s (float32)" for p in sorted(gpu_peaks)))
    print(f"{'group':<48} {'impl':<10} {'median':>11} {'ratio':>7} {'GFLOP/s':>8} {'%peak':>6}")
    for group, benches in groups.items():
        pynn = next((b for b in benches if impl_of(b) == "pynn"), None)
        for b in sorted(benches, key=impl_of):
            med = b["stats"]["median"]
            ratio = med / pynn["stats"]["median"] if pynn else float("nan")
            flops = b.get("extra_info", {}).get("flops")
            gf = f"{flops / med / 1e9:8.1f}" if flops else " " * 8
            # a GPU benchmark names its device's peak; the others use the CPU's
            bench_peak = b.get("extra_info", {}).get("peak_gflops") or peak
            if flops and flops / med >= 1e12:
                gf = f"{flops / med / 1e12:7.1f}T"
            pk = f"{flops / med / 1e9 / bench_peak * 100:5.0f}%" if flops and bench_peak \
                else " " * 6
            images = b.get("extra_info", {}).get("images")
            if images:  # throughput benchmarks: images per second instead
                gf, pk = f"{images / med:8.0f}", " img/s"
            unit = f"{med * 1e3:9.3f}ms" if med < 1 else f"{med:9.3f}s "
            print(f"{group[:48]:<48} {impl_of(b):<10} {unit:>11} {ratio:7.2f} {gf} {pk}")
    print("ratio: the implementation's median time / pynn's (above 1: pynn is faster); "
          "GFLOP/s, or TFLOP/s where marked T")


if __name__ == "__main__":
    main(sys.argv[1] if len(sys.argv) > 1 else ".benchmarks/last.json")

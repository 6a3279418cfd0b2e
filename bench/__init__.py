"""Side-by-side benchmarks of the service, its parts and a naive baseline (`python -m bench`).

Every figure is measured in one run on one machine, so ratios compare like with like:
ONNX Runtime alone (the ceiling), Triton alone, a synchronous one-call-per-request
FastAPI baseline, and the whole pipeline through the gateway.
"""

"""The sample tenant generator: synthetic Teams PSTN exports, licence snapshots and credits files
for demos, tests and benchmarks. Not part of the product: `pstn generate` and `pstn run` on an
empty landing folder call it."""

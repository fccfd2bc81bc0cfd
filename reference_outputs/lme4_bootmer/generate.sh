#!/bin/sh
# Regenerate mfr_bootmer.json: lme4's parametric bootMer (new random effects) on the bundled mfr-shaped
# model, 400 replicates, seed 1, one BLAS thread. Run from the repository root (needs R with lme4 and
# jsonlite):  sh reference_outputs/lme4_bootmer/generate.sh
OPENBLAS_NUM_THREADS=1 OMP_NUM_THREADS=1 Rscript benchmarks/lme4_bootmer.R csv=fitglme/data/mfr_sim.csv \
  nsim=400 seed=1 quantiles=1 out=reference_outputs/lme4_bootmer/mfr_bootmer.json

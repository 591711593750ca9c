"""The model and how it is fitted: `model` (Booster + FeatureSchema, saved as UBJ + JSON),
`training` (the xgboost core every engine shares), `external_memory` (training from batches),
`metrics` (per-task metrics)."""

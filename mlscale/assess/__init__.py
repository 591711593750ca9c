"""Judging a trained model, pure computation: `evaluation` (calibration, thresholds, per class,
slices), `explanations` (xgboost's SHAP values), `reference` (scikit-learn's HistGradientBoosting on
the same split)."""

"""drbot's own checkov checks for infra/: what checkov's ARM rules miss (loaded with --external-checks-dir)."""

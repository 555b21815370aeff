"""digestflow: runner package."""

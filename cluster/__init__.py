"""digestflow: cluster package."""

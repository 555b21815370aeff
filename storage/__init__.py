"""digestflow: storage package."""

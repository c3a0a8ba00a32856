"""One job: the Prefect task, the converters and atomic output finalization."""

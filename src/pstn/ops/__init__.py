"""Running the pipeline: dbt invocation, the nightly job, its gates and webhooks, the writer lock."""

"""Orchestration: run settings, the job planner and the `convert-batch` flow."""
